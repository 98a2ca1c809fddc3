// `mailer queue` flags. Parsed as text (text-flags.ts), not by cac: cac's parser turns numeric-looking
// values into numbers (`--subject 0x10` would become "16"), and every value here is text.
import { DataError, UsageError, errorText } from "../errors.ts";
import { FIELD_NAME } from "../queue/headers.ts";
import { parsePriority, type Priority } from "../queue/priority.ts";
import { scheduleFrom, type Schedule } from "../queue/schedule.ts";
import { parseTextFlags, type TextFlag, type TextFlagValues } from "./text-flags.ts";

export interface QueueArgs {
  config?: string;
  logFormat?: string;
  logLevel?: string;
  from?: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string;
  subject?: string;
  text?: string;
  html?: string;
  attach: string[];
  headers: Array<[string, string]>;
  priority?: Priority;
  /** --send-at, --expires-at, --idempotency-key */
  schedule: Schedule;
}

export const QUEUE_FLAGS: Readonly<Record<string, TextFlag>> = {
  config: { short: "c" },
  "log-format": {},
  "log-level": {},
  from: {},
  to: { multiple: true },
  cc: { multiple: true },
  bcc: { multiple: true },
  "reply-to": {},
  subject: {},
  text: {},
  html: {},
  attach: { multiple: true },
  header: { multiple: true },
  priority: {},
  "send-at": {},
  "expires-at": {},
  "idempotency-key": {},
};

export function parseQueueArgs(argv: string[]): QueueArgs {
  let values: TextFlagValues;
  try {
    values = parseTextFlags(argv, QUEUE_FLAGS);
  } catch (error) {
    throw new UsageError(`queue: ${errorText(error).split("\n")[0]}`);
  }
  // Header injection: no flag value may carry a line break (the message body from stdin may).
  for (const [name, value] of Object.entries(values)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === "string" && /[\r\n\0]/.test(v) && name !== "text" && name !== "html") {
        throw new DataError(`queue: --${name} contains a line break or NUL (header injection refused)`);
      }
    }
  }
  const str = (k: string) => values[k] as string | undefined;
  const list = (k: string) => (values[k] as string[] | undefined) ?? [];
  const priority = optionPriority(str("priority"));
  const schedule = asUsage(() =>
    scheduleFrom(
      { sendAt: str("send-at"), expiresAt: str("expires-at"), idempotencyKey: str("idempotency-key") },
      { sendAt: "queue: --send-at", expiresAt: "queue: --expires-at", idempotencyKey: "queue: --idempotency-key" },
    ),
  );
  return {
    config: str("config"),
    logFormat: str("log-format"),
    logLevel: str("log-level"),
    from: str("from"),
    to: list("to"),
    cc: list("cc"),
    bcc: list("bcc"),
    replyTo: str("reply-to"),
    subject: str("subject"),
    text: str("text"),
    html: str("html"),
    attach: list("attach"),
    headers: list("header").map(parseHeaderFlag),
    priority,
    schedule,
  };
}

/** A bad flag value is a usage error (exit 64), not a bad message. */
function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw error instanceof DataError ? new UsageError(error.message) : error;
  }
}

/** --priority as every other path reads a priority (parsePriority). */
function optionPriority(value: string | undefined): Priority | undefined {
  return value === undefined ? undefined : asUsage(() => parsePriority(value, "queue: --priority"));
}

function parseHeaderFlag(text: string): [string, string] {
  const colon = text.indexOf(":");
  const name = colon > 0 ? text.slice(0, colon).trim() : "";
  if (!FIELD_NAME.test(name)) throw new UsageError(`queue: --header expects 'Name: value', got ${JSON.stringify(text)}`);
  return [name, text.slice(colon + 1).trim()];
}

/** Flags that make a message from parts; without any of them the message comes whole on stdin. */
export const composes = (a: QueueArgs) =>
  a.subject !== undefined || a.text !== undefined || a.html !== undefined || a.attach.length > 0 || a.replyTo !== undefined;
