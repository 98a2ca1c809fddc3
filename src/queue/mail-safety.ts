// Header injection guard for nodemailer message options. nodemailer itself folds a line break in a
// header value into a space, which hides the attempt; we refuse it instead, so a caller that passes
// user input into a subject or an address learns about it (DataError, exit 65, SMTP 5xx).
import { DataError } from "../errors.ts";

const BREAK = /[\r\n\0]/;

/** Fields that become header lines of the root node. */
const HEADER_FIELDS = [
  "from", "sender", "to", "cc", "bcc", "replyTo", "inReplyTo", "references", "subject", "messageId", "date",
  "headers", "list", "envelope",
] as const;

/** Fields of an attachment or alternative that become header lines of its MIME part. */
const PART_FIELDS = ["filename", "contentType", "cid", "contentDisposition", "contentTransferEncoding", "headers"] as const;

function walk(value: unknown, path: string, seen: Set<unknown>): void {
  if (typeof value === "string") {
    if (BREAK.test(value)) throw new DataError(`${path}: value contains a line break or NUL (header injection refused)`);
    return;
  }
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  if (value instanceof Date || ArrayBuffer.isView(value)) return;
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, `${path}[${i}]`, seen));
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (path.endsWith("headers") && BREAK.test(key)) throw new DataError(`${path}: header name contains a line break or NUL`);
    walk(item, `${path}.${key}`, seen);
  }
}

/** Throws DataError when any value that ends up in a header line holds CR, LF or NUL. */
export function assertNoHeaderInjection(mail: Record<string, unknown>): void {
  const seen = new Set<unknown>();
  for (const field of HEADER_FIELDS) walk(mail[field], field, seen);
  const parts = [
    ...((Array.isArray(mail.attachments) ? mail.attachments : []) as unknown[]).map((p, i) => [p, `attachments[${i}]`] as const),
    ...((Array.isArray(mail.alternatives) ? mail.alternatives : []) as unknown[]).map((p, i) => [p, `alternatives[${i}]`] as const),
    ...(["text", "html", "watchHtml", "amp", "icalEvent"] as const).map((k) => [mail[k], k] as const),
  ];
  for (const [part, path] of parts) {
    if (part === null || typeof part !== "object" || ArrayBuffer.isView(part)) continue;
    for (const field of PART_FIELDS) walk((part as Record<string, unknown>)[field], `${path}.${field}`, seen);
  }
}
