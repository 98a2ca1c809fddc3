// Every subcommand in one table: its usage, options and the module that runs it (loaded only when it
// runs, so `mailer --version` and an empty `send-mail` stay fast).

export interface OptionSpec {
  flags: string;
  description: string;
  default?: unknown;
}

export interface CommandSpec {
  name: string;
  /** cac usage, e.g. "purge-mail-log <days>". */
  usage: string;
  description: string;
  options?: OptionSpec[];
  examples?: string[];
  /** Pass raw arguments through untouched (sendmail's -oi, -odi, -f …). */
  raw?: boolean;
  /** The config sections (and top-level keys) it reads: a problem elsewhere is only a warning, and
   * no other section's secret is resolved. */
  uses: readonly string[];
  load: () => Promise<{ run: CommandRun }>;
}

export type CommandRun = (args: string[], options: Record<string, any>) => Promise<number | void>;

/** What a pass reads: everything but the SMTP intake. */
const WORKER = ["error_handler", "database", "backend", "delivery", "retry", "queue", "lock", "limits", "metrics", "log"];
/** The sendmail intake: with a spool it never opens the database; [delivery] holds nothing it needs. */
const SUBMIT = ["database", "queue", "log"];

export const COMMANDS: CommandSpec[] = [
  {
    name: "migrate",
    uses: ["database", "log"],
    usage: "migrate",
    description: "Create or upgrade the database schema (safe to run from many processes at once)",
    load: () => import("./migrate.ts"),
  },
  {
    name: "send-mail",
    uses: WORKER,
    usage: "send-mail",
    description: "Do one pass through the queue, sending what is queued (for cron, every minute)",
    load: () => import("./send-mail.ts"),
  },
  {
    name: "runmailer",
    uses: WORKER,
    usage: "runmailer",
    description: "Send in a loop, sleeping delivery.empty_queue_sleep seconds when nothing is sendable",
    load: () => import("./runmailer.ts"),
  },
  {
    name: "runmailer-pg",
    uses: WORKER,
    usage: "runmailer-pg",
    description: "PostgreSQL: send as soon as mail is committed (LISTEN/NOTIFY), and on a beat",
    load: () => import("./runmailer-pg.ts"),
  },
  {
    name: "retry-deferred",
    uses: ["database", "delivery", "retry", "log"],
    usage: "retry-deferred",
    description: "Put deferred messages back on the queue (respects delivery.max_retries; cron, every 20 minutes)",
    load: () => import("./retry-deferred.ts"),
  },
  {
    name: "retry-failed",
    uses: ["database", "log"],
    usage: "retry-failed [...ids]",
    description: "Put failed messages (by queue id or <Message-ID>, or --all) back on the queue for one more attempt",
    options: [{ flags: "--all", description: "every failed message" }],
    examples: ["mailer retry-failed 42 43", "mailer retry-failed '<a1b2@example.com>'", "mailer retry-failed --all"],
    load: () => import("./retry-failed.ts"),
  },
  {
    name: "purge-mail-log",
    uses: ["database", "log"],
    usage: "purge-mail-log <days>",
    description: "Delete log entries older than DAYS days",
    options: [{ flags: "-r, --result <result>", description: "which results to delete: success | failure | dont_send | expired | all", default: "success" }],
    examples: ["mailer purge-mail-log 7", "mailer purge-mail-log 30 -r all"],
    load: () => import("./purge-mail-log.ts"),
  },
  {
    name: "queue",
    uses: ["database", "delivery", "queue", "log"],
    usage: "queue",
    description: "Queue one message from flags, or a complete RFC 5322 message on stdin",
    options: [
      { flags: "--from <address>", description: "sender" },
      { flags: "--to <address>", description: "recipient (repeatable, or comma-separated)" },
      { flags: "--cc <address>", description: "Cc recipient (repeatable)" },
      { flags: "--bcc <address>", description: "Bcc recipient (repeatable; not in the stored headers)" },
      { flags: "--reply-to <address>", description: "Reply-To" },
      { flags: "--subject <text>", description: "subject" },
      { flags: "--text <text>", description: "plain-text body (- reads it from stdin)" },
      { flags: "--html <html>", description: "HTML body" },
      { flags: "--attach <file>", description: "attach a file (repeatable)" },
      { flags: "--header <header>", description: "extra header 'Name: value' (repeatable)" },
      { flags: "--priority <priority>", description: "high | medium | low (default: X-Mailer-Priority header, else medium)" },
      { flags: "--send-at <when>", description: "not before: ISO 8601 with a zone (2026-12-24T18:00:00Z) or a delay (+10m)" },
      { flags: "--expires-at <when>", description: "not after: unsent by then, it is dropped and logged expired" },
      { flags: "--idempotency-key <key>", description: "queue nothing (print the first id) if this key was queued within [queue] idempotency_window" },
    ],
    examples: [
      "mailer queue --from app@example.com --to ops@example.com --subject Hi --text 'Hello'",
      "mailer queue --send-at +2h --expires-at 2026-12-24T18:00:00Z --idempotency-key order-1234-receipt < receipt.eml",
      "mailer queue < message.eml",
    ],
    // Parses its own flags (intake/text-flags.ts): cac would turn `--subject 0x10` into the number 16.
    raw: true,
    load: () => import("./queue.ts"),
  },
  {
    name: "sendmail",
    uses: SUBMIT,
    usage: "sendmail [...recipients]",
    description: "sendmail(1)-compatible intake: -t, -i/-oi, -f sender, -F name; message on stdin",
    raw: true,
    examples: ["printf 'Subject: hi\\n\\nbody\\n' | mailer sendmail -t -oi ops@example.com"],
    load: () => import("./sendmail.ts"),
  },
  {
    name: "smtpd",
    uses: ["database", "delivery", "queue", "smtpd", "log"],
    usage: "smtpd",
    description: "A local SMTP submission server that queues what it receives",
    options: [
      { flags: "--listen <address>", description: "address:port (default smtpd.listen, 127.0.0.1:2525)" },
      { flags: "--force", description: "listen on a non-loopback address without AUTH or allow_from" },
    ],
    load: () => import("./smtpd.ts"),
  },
  {
    name: "web",
    // It reads and acts on the queue, and "send now" runs a pass: everything a worker reads, and [web].
    uses: [...WORKER, "web"],
    usage: "web [...token-command]",
    description: "The console in a browser, the HTTP API (/api/v1) and /metrics; `web token add|list|revoke` manages API tokens",
    options: [
      { flags: "--listen <address>", description: "address:port (default web.listen, 127.0.0.1:8025)" },
      { flags: "--force", description: "listen on a non-loopback address without a password" },
      { flags: "--scope <scope>", description: "web token add: send | read | admin" },
    ],
    examples: [
      "mailer web",
      "MAILER_WEB_PASSWORD=… mailer web --listen 0.0.0.0:8025",
      "mailer web token add billing-app --scope send",
      "mailer web token list",
      "mailer web token revoke billing-app",
    ],
    load: () => import("./web.ts"),
  },
  {
    name: "dont-send",
    uses: ["database", "log"],
    usage: "dont-send <action> [...addresses]",
    description: "Manage the don't-send list: add ADDR… | remove ADDR… | list",
    examples: ["mailer dont-send add bounced@example.com", "mailer dont-send list"],
    load: () => import("./dont-send.ts"),
  },
  {
    name: "status",
    uses: ["database", "lock", "queue", "limits", "log"],
    usage: "status",
    description: "Queue counts by state and priority, oldest age, recent results",
    options: [
      { flags: "--json", description: "one JSON object, for monitoring" },
      { flags: "--check", description: "exit 1 (reasons on stderr, nothing on stdout) when a --max-… threshold is crossed" },
      { flags: "--max-age <seconds>", description: "check: the oldest sendable message may be at most this old" },
      { flags: "--max-queued <n>", description: "check: at most this many sendable messages" },
      { flags: "--max-deferred <n>", description: "check: at most this many deferred messages" },
      { flags: "--max-failed <n>", description: "check: at most this many failed messages" },
    ],
    examples: ["mailer status", "mailer status --json", "mailer status --check --max-age 600 --max-queued 10000"],
    load: () => import("./status.ts"),
  },
  {
    name: "list",
    uses: ["database", "log"],
    usage: "list",
    description: "List queued messages (or --deferred, --failed, --all), in the order a pass sends them",
    options: [
      { flags: "--deferred", description: "deferred messages" },
      { flags: "--failed", description: "failed messages" },
      { flags: "--all", description: "every message in the queue table" },
      { flags: "--limit <n>", description: "at most N rows", default: 50 },
      { flags: "--json", description: "one JSON object" },
    ],
    examples: ["mailer list", "mailer list --deferred --limit 200", "mailer list --all --json"],
    load: () => import("./list.ts"),
  },
  {
    name: "show",
    uses: ["database", "log"],
    usage: "show <id>",
    description: "One message by queue id or <Message-ID>: status, headers, envelope, claim and every attempt",
    options: [{ flags: "--json", description: "one JSON object" }],
    examples: ["mailer show 42", "mailer show '<a1b2@example.com>'"],
    load: () => import("./show.ts"),
  },
];

export const findCommand = (name: string) => COMMANDS.find((c) => c.name === name);
