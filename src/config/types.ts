// The configuration as the rest of the code sees it: the TOML's own section and key names,
// validated, defaults filled in, secrets resolved, relative paths made absolute.

import type { DomainLimits } from "./schema.ts";

export type BackendType = "smtp" | "console" | "file" | "null" | "sendmail" | "module";

export interface Config {
  /** The file the values came from, or null when only defaults and the environment apply. */
  source: string | null;
  error_handler: string | null;
  database: { url: string; busy_timeout: number };
  backend: {
    type: BackendType;
    host: string;
    port: number;
    secure: boolean;
    /** null: required when `user` is set, else opportunistic (transports/smtp.ts tlsPolicy). */
    tls: "opportunistic" | "required" | null;
    tls_verify: boolean;
    user: string;
    /** Resolved from password, password_env or password_file; never logged. */
    password: string;
    pool: number;
    timeout: number;
    dir: string;
    path: string;
    module: string | null;
  };
  delivery: {
    max_batch: number | null;
    max_deferred: number | null;
    throttle: number;
    max_retries: number | null;
    empty_queue_sleep: number;
    pause_send: boolean;
    log_message_data: boolean;
    enqueue_batch_size: number;
    claim_batch: number;
    lease: number;
    /** Seconds in-flight sends get after the first SIGTERM/SIGINT. */
    shutdown_timeout: number;
  };
  /** Durations in seconds. */
  retry: {
    auto: boolean;
    permanent_on_5xx: boolean;
    min_backoff: number;
    max_backoff: number;
    max_lifetime: number;
    jitter: number;
  };
  queue: {
    max_size: number;
    /** "" = work it out from the host (src/queue/local-names.ts). */
    default_domain: string;
    /** "" = no aliases file. */
    aliases: string;
    /** "" = the submitting user's login at default_domain. */
    default_from: string;
    /** mailAdmins() / mailManagers() recipients. */
    admins: string[];
    managers: string[];
    spool: string | null;
    /** Seconds. */
    idempotency_window: number;
  };
  /** Shared by every worker on the database (src/limits/). */
  limits: {
    /** "" = no fleet-wide rate. */
    rate: string;
    burst: number;
    daily: number | null;
    domains: DomainLimits;
  };
  lock: { path: string; use_file_lock: boolean; wait_timeout: number | "forever" };
  smtpd: {
    listen: string;
    user: string;
    password: string;
    allow_from: string[];
    allow_open_relay: boolean;
    /** "" = no TLS. */
    tls_cert: string;
    tls_key: string;
    secure: boolean;
    max_clients: number;
    /** 0 = no limit. */
    max_clients_per_ip: number;
    /** "" = no limit, else a rate such as "600/m". */
    client_rate: string;
    /** Seconds. */
    idle_timeout: number;
    /** Bytes. */
    memory_limit: number;
    /** Seconds; null: 0 on a loopback listen, 0.1 otherwise. */
    greet_pause: number | null;
  };
  web: {
    listen: string;
    user: string;
    /** Resolved from password, password_env or password_file; "" = no login (loopback only). */
    password: string;
    /** "" = no API tokens. */
    tokens_file: string;
    /** Seconds. */
    session_timeout: number;
  };
  /** "" = the workers serve no metrics. */
  metrics: { listen: string };
  log: { level: "debug" | "info" | "warn" | "error"; format: "text" | "json" };
}
