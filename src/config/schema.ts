// Every configuration key: where it lives, its type, its default and one line saying what it does.
// mailer.toml.example is checked against this table by a test, so the two cannot drift apart.
import { LOG_LEVELS } from "../log.ts";
import { RATE_EXPECTED, parseRate } from "../limits/rate.ts";
import { closest } from "./suggest.ts";

/** One [limits.domains."NAME"] table ("*" is every domain not named). */
export interface DomainLimitConfig {
  /** "" = no rate limit. */
  rate: string;
  burst: number;
  /** null = no concurrency limit. */
  concurrency: number | null;
}
export type DomainLimits = Record<string, DomainLimitConfig>;

export type Value = string | number | boolean | string[] | DomainLimits | null;

/** Turns a raw TOML or environment value into a checked one, or says what was expected. */
export type Parser = (raw: unknown, fromEnv: boolean) => { value: Value } | { expected: string };

export interface KeySpec {
  section: string | null;
  key: string;
  parse: Parser;
  /** null means "absent": no limit, no module, … */
  default: Value;
  doc: string;
  /** A path resolved against the config file's directory (or the working directory). */
  path?: boolean;
  /** How mailer.toml.example shows the default, when not as the parsed value (durations: "5m", not 300). */
  shown?: Value;
  /** What mailer.toml.example shows instead of `key = default` (commented TOML for a sub-table). */
  example?: string;
}

const fromEnvNumber = (raw: unknown, fromEnv: boolean) =>
  fromEnv && typeof raw === "string" && raw.trim() !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;

export const str: Parser = (raw) => (typeof raw === "string" ? { value: raw } : { expected: "a string" });

export function int(min: number, max = Number.MAX_SAFE_INTEGER): Parser {
  return (raw, fromEnv) => {
    const v = fromEnvNumber(raw, fromEnv);
    return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max
      ? { value: v }
      : { expected: max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}` };
  };
}

export function num(min: number, exclusive = false): Parser {
  return (raw, fromEnv) => {
    const v = fromEnvNumber(raw, fromEnv);
    const ok = typeof v === "number" && Number.isFinite(v) && (exclusive ? v > min : v >= min);
    return ok ? { value: v } : { expected: `a number ${exclusive ? ">" : ">="} ${min}` };
  };
}

export const bool: Parser = (raw, fromEnv) => {
  if (typeof raw === "boolean") return { value: raw };
  if (fromEnv && typeof raw === "string") {
    const v = raw.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(v)) return { value: true };
    if (["false", "0", "no", "off"].includes(v)) return { value: false };
  }
  return { expected: "true or false" };
};

export function oneOf(...choices: string[]): Parser {
  return (raw) =>
    typeof raw === "string" && choices.includes(raw)
      ? { value: raw }
      : { expected: `one of ${choices.map((c) => JSON.stringify(c)).join(", ")}` };
}

export const stringList: Parser = (raw, fromEnv) => {
  if (fromEnv && typeof raw === "string") return { value: raw.split(",").map((s) => s.trim()).filter(Boolean) };
  return Array.isArray(raw) && raw.every((s) => typeof s === "string")
    ? { value: raw as string[] }
    : { expected: "an array of strings" };
};

/** -1 (or 0) = one try, N seconds, or "forever". */
const lockWait: Parser = (raw, fromEnv) => {
  if (raw === "forever") return { value: "forever" };
  const v = fromEnvNumber(raw, fromEnv);
  return typeof v === "number" && Number.isFinite(v) ? { value: v } : { expected: 'seconds (-1 = one try) or "forever"' };
};

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A length of time in seconds: a number, or text such as "90s", "5m", "1h", "5d", "1h30m". */
export function duration(min = 0): Parser {
  return (raw, fromEnv) => {
    const expected = { expected: `a duration such as 30, "90s", "5m", "1h" or "5d" (>= ${min} s)` };
    const v = fromEnvNumber(raw, fromEnv);
    let seconds: number;
    if (typeof v === "number") seconds = v;
    else if (typeof v === "string" && /^\s*(\d+(\.\d+)?\s*[smhd]\s*)+$/i.test(v)) {
      seconds = 0;
      for (const [, n, unit] of v.matchAll(/(\d+(?:\.\d+)?)\s*([smhd])/gi)) seconds += Number(n) * UNIT_SECONDS[unit!.toLowerCase()]!;
    } else return expected;
    return Number.isFinite(seconds) && seconds >= min ? { value: seconds } : expected;
  };
}

/** A domain name: letters, digits, dots and hyphens (empty = work it out from the host). */
const domainName: Parser = (raw) =>
  typeof raw === "string" && (raw === "" || /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(raw))
    ? { value: raw.replace(/\.$/, "") }
    : { expected: 'a domain name such as "example.org"' };

/** "" (no limit) or a rate such as "14/s". */
const rate: Parser = (raw) =>
  typeof raw === "string" && (raw.trim() === "" || parseRate(raw)) ? { value: raw.trim() === "" ? "" : parseRate(raw)!.text } : { expected: RATE_EXPECTED };

const DOMAIN_LIMIT_KEYS = ["rate", "burst", "concurrency"];
const DOMAIN_NAME = /^(\*|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)$/;

/** [limits.domains."gmail.com"] tables: each with rate, burst and concurrency (at least one of rate
 * or concurrency). Only in the file: there is no environment form. */
const domainLimits: Parser = (raw, fromEnv) => {
  if (fromEnv) return { expected: '[limits.domains."NAME"] tables in the config file (there is no environment form)' };
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { expected: '[limits.domains."NAME"] tables' };
  const out: DomainLimits = {};
  for (const [name, table] of Object.entries(raw as Record<string, unknown>)) {
    const domain = name.toLowerCase().replace(/\.$/, "");
    const at = `[limits.domains.${JSON.stringify(name)}]`;
    if (!DOMAIN_NAME.test(domain)) return { expected: `${at}: a domain name such as "gmail.com", or "*" for every other domain` };
    if (table === null || typeof table !== "object" || Array.isArray(table)) return { expected: `${at}: a table with rate, burst or concurrency` };
    for (const key of Object.keys(table)) {
      if (DOMAIN_LIMIT_KEYS.includes(key)) continue;
      const near = closest(key, DOMAIN_LIMIT_KEYS);
      return { expected: `${at}: rate, burst or concurrency, not ${JSON.stringify(key.slice(0, 64))}${near ? ` (did you mean ${near}?)` : ""}` };
    }
    const t = table as Record<string, unknown>;
    const parsedRate = t.rate === undefined ? { value: "" } : rate(t.rate, false);
    if ("expected" in parsedRate) return { expected: `${at} rate: ${RATE_EXPECTED}` };
    const burst = t.burst === undefined ? { value: 1 } : int(1)(t.burst, false);
    if ("expected" in burst) return { expected: `${at} burst: an integer >= 1` };
    const concurrency = t.concurrency === undefined ? { value: null } : int(1, 1000)(t.concurrency, false);
    if ("expected" in concurrency) return { expected: `${at} concurrency: an integer from 1 to 1000` };
    if (parsedRate.value === "" && concurrency.value === null) return { expected: `${at}: rate or concurrency (or both)` };
    out[domain] = { rate: parsedRate.value as string, burst: burst.value as number, concurrency: concurrency.value as number | null };
  }
  return { value: out };
};

/** A fraction from 0 to 1 (jitter). */
const fraction: Parser = (raw, fromEnv) => {
  const v = fromEnvNumber(raw, fromEnv);
  return typeof v === "number" && v >= 0 && v <= 1 ? { value: v } : { expected: "a number from 0 to 1" };
};

export const KEYS: KeySpec[] = [
  { section: null, key: "error_handler", parse: str, default: null, path: true,
    doc: "module deciding sent/deferred/failed when a delivery fails (trusted code: it runs with the worker's rights)" },

  { section: "database", key: "url", parse: str, default: "sqlite:./mailer.db",
    doc: "sqlite:PATH | sqlite::memory: | postgres://user:pass@host:5432/db | mysql://user:pass@host:3306/db (MariaDB)" },
  { section: "database", key: "password_env", parse: str, default: "",
    doc: "postgres/mysql: environment variable holding the password (instead of one in url, which sendmail's readers would see)" },
  { section: "database", key: "password_file", parse: str, default: "", path: true,
    doc: "postgres/mysql: file holding the password (e.g. root:mailer, mode 0640)" },
  { section: "database", key: "busy_timeout", parse: int(0), default: 5000,
    doc: "SQLite: milliseconds to wait for another writer before giving up" },

  { section: "backend", key: "type", parse: oneOf("smtp", "console", "file", "null", "sendmail", "module"), default: "smtp",
    doc: "how mail is really sent: smtp | console | file | null | sendmail | module" },
  { section: "backend", key: "host", parse: str, default: "localhost", doc: "smtp: server host name" },
  { section: "backend", key: "port", parse: int(1, 65535), default: 25, doc: "smtp: server port" },
  { section: "backend", key: "secure", parse: bool, default: false,
    doc: "smtp: implicit TLS (port 465); otherwise STARTTLS, as backend.tls says" },
  { section: "backend", key: "tls", parse: oneOf("opportunistic", "required"), default: null,
    doc: 'smtp: "required" never sends AUTH or mail without TLS; "opportunistic" uses STARTTLS when offered (absent: required when user is set, else opportunistic)' },
  { section: "backend", key: "tls_verify", parse: bool, default: true,
    doc: "smtp: verify the server's TLS certificate (turn off only for a known self-signed peer)" },
  { section: "backend", key: "user", parse: str, default: "", doc: "smtp: user name for AUTH (empty = no AUTH)" },
  { section: "backend", key: "password", parse: str, default: "", doc: "smtp: password (prefer password_env or password_file)" },
  { section: "backend", key: "password_env", parse: str, default: "", doc: "smtp: name of an environment variable holding the password" },
  { section: "backend", key: "password_file", parse: str, default: "", path: true, doc: "smtp: file whose contents are the password" },
  { section: "backend", key: "pool", parse: int(1, 64), default: 1, doc: "smtp: connections used at once" },
  { section: "backend", key: "timeout", parse: num(0, true), default: 60,
    doc: "smtp: seconds to wait for a connection, a greeting or a reply before deferring" },
  { section: "backend", key: "dir", parse: str, default: "./outbox", path: true, doc: "file: directory receiving one .eml per message" },
  { section: "backend", key: "path", parse: str, default: "/usr/sbin/sendmail", doc: "sendmail: the sendmail program" },
  { section: "backend", key: "module", parse: str, default: null, path: true,
    doc: "module: a .ts/.js file exporting a transport factory" },

  { section: "delivery", key: "max_batch", parse: int(0), default: null, doc: "stop a pass after N sent (absent = no limit)" },
  { section: "delivery", key: "max_deferred", parse: int(0), default: null, doc: "stop a pass after N deferred (absent = no limit)" },
  { section: "delivery", key: "throttle", parse: num(0), default: 0, doc: "seconds to sleep after each message (> 0 sends one at a time)" },
  { section: "delivery", key: "max_retries", parse: int(0), default: null,
    doc: "retry-deferred re-queues a message at most N times (absent = no limit)" },
  { section: "delivery", key: "empty_queue_sleep", parse: num(0, true), default: 30, doc: "runmailer poll / runmailer-pg beat, seconds" },
  { section: "delivery", key: "pause_send", parse: bool, default: false, doc: "send-mail does nothing (the queue keeps filling)" },
  { section: "delivery", key: "log_message_data", parse: bool, default: true, doc: "keep the message text in the log" },
  { section: "delivery", key: "enqueue_batch_size", parse: int(1), default: 500, doc: "rows per INSERT transaction in bulk enqueue" },
  { section: "delivery", key: "claim_batch", parse: int(1, 10000), default: 100,
    doc: "messages a worker claims per database round trip" },
  { section: "delivery", key: "lease", parse: num(1), default: 300,
    doc: "seconds a claim is held before another worker may take the message over" },
  { section: "delivery", key: "shutdown_timeout", parse: num(0), default: 30,
    doc: "after SIGTERM/SIGINT, seconds sends in flight may take before they are abandoned and released" },

  { section: "retry", key: "auto", parse: bool, default: false,
    doc: "retry deferred messages by themselves on a backoff schedule (false: only retry-deferred re-queues them)" },
  { section: "retry", key: "permanent_on_5xx", parse: bool, default: false,
    doc: "a 5xx reply to MAIL FROM, RCPT TO or DATA fails the message for good instead of deferring it" },
  { section: "retry", key: "min_backoff", parse: duration(0), default: 300, shown: "5m",
    doc: "auto: wait before the first retry; doubles with each retry" },
  { section: "retry", key: "max_backoff", parse: duration(0), default: 3600, shown: "1h",
    doc: "auto: the longest wait between two attempts" },
  { section: "retry", key: "max_lifetime", parse: duration(0), default: 432000, shown: "5d",
    doc: "auto: a message still deferred this long after it was queued fails (0 = no limit)" },
  { section: "retry", key: "jitter", parse: fraction, default: 0.2,
    doc: "auto: each wait varies randomly by up to this fraction (0.2 = +/-20%), so retries do not bunch up" },

  { section: "queue", key: "max_size", parse: int(1), default: 26214400, doc: "largest message accepted on any enqueue path, bytes" },
  { section: "queue", key: "default_domain", parse: domainName, default: "",
    doc: "qualifies bare local names (root) in the envelope and headers; empty = /etc/mailname, else this host's full name" },
  { section: "queue", key: "aliases", parse: str, default: "/etc/aliases", path: true,
    doc: 'aliases(5) file rewriting local recipients before mail is queued ("" = none; a missing default file is none)' },
  { section: "queue", key: "default_from", parse: str, default: "",
    doc: "sender of a message that names none (empty = the submitting user's login at default_domain)" },
  { section: "queue", key: "admins", parse: stringList, default: [],
    doc: "recipients of mailAdmins() (Django's ADMINS)" },
  { section: "queue", key: "managers", parse: stringList, default: [],
    doc: "recipients of mailManagers() (Django's MANAGERS)" },
  { section: "queue", key: "spool", parse: str, default: null, path: true,
    doc: "maildrop directory: sendmail drops mail here without opening the database; every pass imports it" },

  { section: "queue", key: "idempotency_window", parse: duration(1), default: 86400, shown: "24h",
    doc: "a message queued with an idempotency key already queued or sent this recently is not queued again (the first one's id is returned)" },

  { section: "limits", key: "rate", parse: rate, default: "",
    doc: 'fleet-wide sending rate, shared by every worker on the database, e.g. "14/s" (empty = none; throttle still applies per process)' },
  { section: "limits", key: "burst", parse: int(1), default: 1,
    doc: "messages the fleet may send at once after an idle spell, beyond the rate (the token bucket's size)" },
  { section: "limits", key: "daily", parse: int(1), default: null,
    doc: "messages the fleet may send per day (UTC); past it, mail waits in the queue for the next day" },
  { section: "limits", key: "domains", parse: domainLimits, default: {},
    doc: 'per recipient domain: a rate and/or a concurrency shared by the fleet; "*" applies to every domain not named',
    example: '# [limits.domains."gmail.com"]\n# rate = "20/m"        # messages per unit to this domain\n# burst = 1\n# concurrency = 2      # SMTP transactions to this domain in flight at once\n# [limits.domains."*"]  # each other domain, separately\n# concurrency = 4' },

  { section: "lock", key: "path", parse: str, default: "./send_mail", path: true, doc: 'lock file path; ".lock" is appended' },
  { section: "lock", key: "use_file_lock", parse: bool, default: true, doc: "take the file lock around each pass" },
  { section: "lock", key: "wait_timeout", parse: lockWait, default: -1, doc: 'seconds to wait for the lock: -1 = one try, "forever" = wait' },

  { section: "smtpd", key: "listen", parse: str, default: "127.0.0.1:2525", doc: "address:port the SMTP intake listens on" },
  { section: "smtpd", key: "user", parse: str, default: "", doc: "require AUTH with this user (empty = no AUTH)" },
  { section: "smtpd", key: "password", parse: str, default: "", doc: "AUTH password (prefer password_env or password_file)" },
  { section: "smtpd", key: "password_env", parse: str, default: "", doc: "environment variable holding the AUTH password" },
  { section: "smtpd", key: "password_file", parse: str, default: "", path: true, doc: "file holding the AUTH password" },
  { section: "smtpd", key: "allow_from", parse: stringList, default: [], doc: "client IP addresses allowed to submit (empty = any)" },
  { section: "smtpd", key: "allow_open_relay", parse: bool, default: false,
    doc: "allow a non-loopback listen address with neither AUTH nor allow_from" },
  { section: "smtpd", key: "tls_cert", parse: str, default: "", path: true,
    doc: "PEM certificate (chain) for STARTTLS or implicit TLS; reloaded when the file changes (empty = no TLS)" },
  { section: "smtpd", key: "tls_key", parse: str, default: "", path: true, doc: "PEM private key of tls_cert" },
  { section: "smtpd", key: "max_clients", parse: int(1), default: 1000,
    doc: "connections at once; more are answered 421 (each idle one costs tens of KB)" },
  { section: "smtpd", key: "max_clients_per_ip", parse: int(0), default: 0,
    doc: "connections at once from one client address (0 = no limit; set it on a network listen)" },
  { section: "smtpd", key: "client_rate", parse: rate, default: "",
    doc: 'messages per client address, e.g. "600/m" (a burst of the count is allowed); more get 450 (empty = no limit)' },
  { section: "smtpd", key: "idle_timeout", parse: duration(1), default: 60, shown: "1m",
    doc: "a connection that sends nothing for this long is closed with 421" },
  { section: "smtpd", key: "memory_limit", parse: int(1), default: 67108864,
    doc: "bytes of arriving message data held at once across connections; a message that finds it spent gets 452 (try later)" },
  { section: "smtpd", key: "greet_pause", parse: duration(0), default: null,
    doc: 'wait this long before the greeting and refuse clients that talk first, as spam bots do (absent: none on a loopback listen, "0.1s" otherwise)' },
  { section: "smtpd", key: "secure", parse: bool, default: false,
    doc: "implicit TLS from the first byte (port 465) instead of STARTTLS; needs tls_cert and tls_key" },

  { section: "web", key: "listen", parse: str, default: "127.0.0.1:8025", doc: "address:port mailer web (the console) listens on" },
  { section: "web", key: "user", parse: str, default: "admin", doc: "the console's login name" },
  { section: "web", key: "password", parse: str, default: "", doc: "the console's password (prefer password_env or password_file; none = no login, loopback only)" },
  { section: "web", key: "password_env", parse: str, default: "", doc: "environment variable holding the console's password" },
  { section: "web", key: "password_file", parse: str, default: "", path: true, doc: "file holding the console's password" },
  { section: "web", key: "tokens_file", parse: str, default: "", path: true,
    doc: "hashed API bearer tokens, managed with mailer web token add|list|revoke (empty = the API accepts no token)" },
  { section: "web", key: "session_timeout", parse: duration(60), default: 43200, shown: "12h",
    doc: "a console login ends after this long without a request" },

  { section: "metrics", key: "listen", parse: str, default: "",
    doc: "runmailer / runmailer-pg serve /metrics and /healthz on this address:port (empty = off)" },

  { section: "log", key: "level", parse: oneOf(...LOG_LEVELS), default: "info", doc: "debug | info | warn | error" },
  { section: "log", key: "format", parse: oneOf("text", "json"), default: "text", doc: "text for people, json for journald and log shippers" },
];

/** The keys of each section, and the top-level keys (null), in KEYS order. */
export const KEYS_BY_SECTION = new Map<string | null, KeySpec[]>();
for (const spec of KEYS) {
  const list = KEYS_BY_SECTION.get(spec.section);
  if (list) list.push(spec);
  else KEYS_BY_SECTION.set(spec.section, [spec]);
}

export const SECTIONS = [...KEYS_BY_SECTION.keys()].filter((s): s is string => s !== null);

export const keyPath = (spec: KeySpec) => (spec.section ? `${spec.section}.${spec.key}` : spec.key);

export const envName = (spec: KeySpec) =>
  ("MAILER_" + (spec.section ? `${spec.section}_${spec.key}` : spec.key)).toUpperCase();
