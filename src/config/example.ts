// The text of mailer.toml.example, generated from the key table so it documents every key with its
// real default. `npm run config-example` rewrites the file; a test fails when the two differ.
import { KEYS, SECTIONS, envName, type KeySpec, type Value } from "./schema.ts";

const HEADER = `# mailer.toml: every key with its default and what it does.
# Lookup: --config PATH, then $MAILER_CONFIG, then ./mailer.toml, then /etc/mailer/mailer.toml;
# with none, these defaults apply. Every key can also be set from the environment as
# MAILER_<SECTION>_<KEY> (e.g. MAILER_DATABASE_URL, MAILER_DELIVERY_THROTTLE), which wins over the file.
# Relative paths in this file are resolved against the directory this file is in.
# Keys shown commented out have no default ("absent" = no limit / not used).
`;

const SECTION_NOTES: Record<string, string> = {
  database: "Where the queue lives.",
  backend: "How mail is really sent (django-mailer's MAILER_EMAIL_BACKEND).",
  delivery: "One pass of send-mail, and the run loops.",
  queue: "Every enqueue path (library, queue, sendmail, smtpd).",
  retry: "Error classes and automatic retry with backoff (docs/reliability.md).",
  lock: "The file lock around a pass (one host; see docs/deployment.md for many).",
  smtpd: "The SMTP intake (mailer smtpd).",
  web: "The operator's console, the HTTP API and /metrics (mailer web; docs/web.md, docs/api.md).",
  limits: "Limits shared by every worker process on every host using the database (docs/limits.md).",
  metrics: "Prometheus metrics of the workers themselves (docs/api.md#metrics).",
  log: "Diagnostics on stderr.",
};

function tomlValue(value: Value): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  return String(value);
}

const EXAMPLES: Record<string, Value> = {
  error_handler: "./handler.ts",
  "delivery.max_batch": 100,
  "delivery.max_deferred": 10,
  "delivery.max_retries": 5,
  "backend.module": "./transport.ts",
  "queue.spool": "/var/spool/mailer",
  "limits.daily": 50000,
  "backend.tls": "required",
  "smtpd.greet_pause": "0.1s",
};

function line(spec: KeySpec): string {
  const path = spec.section ? `${spec.section}.${spec.key}` : spec.key;
  if (spec.example !== undefined) return `# ${spec.doc}\n${spec.example}`;
  const comment = `# ${spec.doc} [${envName(spec)}]`;
  if (spec.default === null) return `${comment}\n# ${spec.key} = ${tomlValue(EXAMPLES[path] ?? "")}`;
  return `${comment}\n${spec.key} = ${tomlValue(spec.shown ?? spec.default)}`;
}

export function configExample(): string {
  const parts = [HEADER];
  for (const spec of KEYS.filter((k) => k.section === null)) parts.push(line(spec) + "\n");
  for (const section of SECTIONS) {
    parts.push(`[${section}]\n# ${SECTION_NOTES[section] ?? ""}\n`);
    for (const spec of KEYS.filter((k) => k.section === section)) parts.push(line(spec));
    parts.push("");
  }
  return parts.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}
