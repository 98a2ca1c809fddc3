// Guards for nodemailer message options, run before nodemailer composes them (the library's enqueue,
// `mailer queue` flags, the HTTP API and the nodemailer queue transport alike):
// - header injection: nodemailer folds a line break in a header value into a space, which hides the
//   attempt; we refuse it, so a caller that passes user input into a subject or an address learns
//   about it (DataError, exit 65, SMTP 5xx);
// - address fields: nodemailer quietly turns "ann@@example.com" into "\"ann@\"@example.com" and
//   leaves an address without a domain ("root") out of the envelope, so that mail to it went nowhere
//   and said nothing. (The sendmail and raw paths qualify bare names with [queue] default_domain;
//   in composed options one is a mistake.)
import { DataError } from "../errors.ts";
import { checkAddress, isLocalName, parseMailboxes } from "./address.ts";

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

/** Throws DataError for an address field given as text that is not a valid list of addresses. */
export function assertValidAddressFields(mail: Record<string, unknown>): void {
  for (const field of ["from", "sender", "replyTo", "to", "cc", "bcc"]) {
    const value = mail[field];
    const texts = typeof value === "string" ? [value] : Array.isArray(value) && value.every((v) => typeof v === "string") ? (value as string[]) : null;
    if (texts === null) continue;
    for (const m of parseMailboxes(texts, field)) {
      if (isLocalName(m.address)) throw new DataError(`${field}: ${JSON.stringify(m.address)} has no domain (write it as a full address, or queue a raw message, whose local names are qualified)`);
      checkAddress(m.address, field);
    }
  }
}
