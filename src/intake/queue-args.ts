// `mailer queue` flags. Parsed with node:util parseArgs, not cac: cac's parser turns numeric-looking
// values into numbers (`--subject 0x10` would become "16"), and every value here is text.
import { parseArgs } from "node:util";
import { DataError, UsageError, errorText } from "../errors.ts";
import { FIELD_NAME } from "../queue/headers.ts";
import { parsePriority, type Priority } from "../queue/priority.ts";

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
}

const OPTIONS = {
  config: { type: "string", short: "c" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  from: { type: "string" },
  to: { type: "string", multiple: true },
  cc: { type: "string", multiple: true },
  bcc: { type: "string", multiple: true },
  "reply-to": { type: "string" },
  subject: { type: "string" },
  text: { type: "string" },
  html: { type: "string" },
  attach: { type: "string", multiple: true },
  header: { type: "string", multiple: true },
  priority: { type: "string" },
} as const;

export function parseQueueArgs(argv: string[]): QueueArgs {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
    values = parsed.values;
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
  };
}

/** --priority as every other path reads a priority (parsePriority); a bad one is a usage error. */
function optionPriority(value: string | undefined): Priority | undefined {
  if (value === undefined) return undefined;
  try {
    return parsePriority(value, "queue: --priority");
  } catch (error) {
    throw error instanceof DataError ? new UsageError(error.message) : error;
  }
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
