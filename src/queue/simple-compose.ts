// The common case of composed mail, built without nodemailer's stream machinery: one text/plain or
// text/html part, plain addresses, a printable ASCII subject. It writes the very bytes nodemailer's
// MailComposer would (test/unit/simple-compose.test.ts compares the two over a corpus), reusing
// nodemailer's own quoted-printable and header-folding functions; anything outside that subset
// returns null and goes to nodemailer. nodemailer spends most of a message's time in streams and
// timer hops (setImmediate per part), which for a 1 KiB message cost several times the encoding.
import { randomHex } from "../bytes.ts";
import { nodeRequire } from "../runtime.ts";
import { rfc5322Date } from "./prepare.ts";

// nodemailer's own functions, loaded when a message needs them (a header line of 76 characters or
// more, a quoted-printable body): `mailer queue` with a short text never loads nodemailer at all.
type MimeFuncs = typeof import("nodemailer/lib/mime-funcs");
type Qp = typeof import("nodemailer/lib/qp");
let mimeFuncs: MimeFuncs | null = null;
let qp: Qp | null = null;
/** nodemailer's foldLines(…, 76) returns a line shorter than 76 as it is. */
const foldLine = (line: string) =>
  line.length < 76
    ? line
    : (mimeFuncs ??= (typeof require === "function" ? require("nodemailer/lib/mime-funcs") : nodeRequire("nodemailer/lib/mime-funcs")) as MimeFuncs).foldLines(line, 76);
const quotedPrintable = () => (qp ??= (typeof require === "function" ? require("nodemailer/lib/qp") : nodeRequire("nodemailer/lib/qp")) as Qp);

/** The fields the fast path understands; any other field (attachments, headers, priority, …) means
 * nodemailer, unless it is one of EMPTY_AS_ABSENT given as an empty list. */
const SIMPLE_FIELDS = new Set([
  "from", "to", "cc", "bcc", "replyTo", "subject", "text", "html", "messageId", "date", "sendAt", "expiresAt", "idempotencyKey",
]);
/** nodemailer adds nothing for these when they are empty lists. */
const EMPTY_AS_ABSENT = new Set(["headers", "attachments", "alternatives"]);

// An address nodemailer leaves exactly as written: a dot-atom local part and a lower-case ASCII domain
// (url.domainToASCII lower-cases and punycodes; "xn--" labels it may rewrite are left to it).
const LOCAL = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*";
const LABEL = "(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const ADDRESS = `${LOCAL}@${LABEL}(?:\\.${LABEL})*`;
/** `addr`, `<addr>` or `Name <addr>` with a name of word characters and single spaces (written unquoted). */
const MAILBOX = new RegExp(`^(?:<(${ADDRESS})>|(${ADDRESS})|([A-Za-z0-9_]+(?: [A-Za-z0-9_]+)*) <(${ADDRESS})>)$`);

interface Mailbox {
  address: string;
  /** As nodemailer writes it in the header. */
  text: string;
}

function mailbox(value: string): Mailbox | null {
  const m = MAILBOX.exec(value);
  if (!m) return null;
  const address = (m[1] ?? m[2] ?? m[4])!;
  return { address, text: m[3] === undefined ? address : `${m[3]} <${address}>` };
}

/** A field of one or more mailboxes, or null when any of them is not simple. */
function mailboxes(value: unknown): Mailbox[] | null {
  const list = typeof value === "string" ? [value] : Array.isArray(value) && value.length > 0 ? value : null;
  if (list === null) return null;
  const out: Mailbox[] = [];
  for (const item of list) {
    const one = typeof item === "string" ? mailbox(item) : null;
    if (one === null) return null;
    out.push(one);
  }
  return out;
}

/** Printable ASCII without `"` or an encoded word's `=?`, which nodemailer would encode. */
const PLAIN_TEXT = /^[\x20\x21\x23-\x7e]*$/;
const MESSAGE_ID = /^<[\x21-\x3b\x3d\x3f-\x7e]+>$/;
/** nodemailer's isPlainText: no control character but TAB, CR, LF, and nothing past ASCII. */
const NOT_PLAIN = /[\x00-\x08\x0b\x0c\x0e-\x1f\u0080-\uffff]/;
const LONG_LINE = /^.{77,}/m;
/** Beyond this nodemailer's encoder works in slices; past 128 KiB it skips its long-line test. */
const MAX_BODY = 60 * 1024;

export interface SimpleComposed {
  raw: Uint8Array;
  envelopeFrom: string;
  envelopeTo: string[];
}

/** nodemailer's bytes for `mail`, or null when the message is outside the simple subset. */
export function composeSimple(mail: Record<string, unknown>): SimpleComposed | null {
  for (const key in mail) {
    const value = mail[key];
    if (value === undefined || SIMPLE_FIELDS.has(key)) continue;
    if (!(EMPTY_AS_ABSENT.has(key) && Array.isArray(value) && value.length === 0)) return null;
  }
  const { text, html, subject, messageId, date } = mail;
  // Exactly one part, given as a non-empty string (nodemailer treats "" as absent).
  const [content, contentType] = text && !html ? [text, "text/plain"] : html && !text ? [html, "text/html"] : [null, ""];
  if (typeof content !== "string" || content.length > MAX_BODY) return null;
  if (subject !== undefined && subject !== "" && (typeof subject !== "string" || subject.trim() === "" || !PLAIN_TEXT.test(subject))) return null;
  if (messageId !== undefined && (typeof messageId !== "string" || !MESSAGE_ID.test(messageId))) return null;
  if (date !== undefined && !(date instanceof Date && !Number.isNaN(date.getTime()))) return null;

  const from = mailboxes(mail.from);
  if (from === null || from.length !== 1) return null;
  const fields: Record<string, Mailbox[] | null> = {};
  for (const name of ["to", "cc", "bcc", "replyTo"] as const) {
    // An empty list writes no header, as with nodemailer (`mailer queue` passes [] for a flag not given).
    if (mail[name] === undefined || (Array.isArray(mail[name]) && (mail[name] as unknown[]).length === 0)) continue;
    const list = mailboxes(mail[name]);
    if (list === null) return null;
    fields[name] = list;
  }
  const to = fields.to ?? [];
  const cc = fields.cc ?? [];
  const bcc = fields.bcc ?? [];
  if (to.length + cc.length + bcc.length === 0) return null;

  // The body: 7bit when it is plain ASCII with no line over 76, else quoted-printable where nodemailer
  // would choose it (more Latin letters than other characters). Base64 and trailing blanks (which
  // nodemailer's streaming encoder holds back across chunks) are left to nodemailer.
  let transferEncoding: string;
  let body: string;
  const ascii = !NOT_PLAIN.test(content);
  if (ascii && !LONG_LINE.test(content)) {
    transferEncoding = "7bit";
    body = content;
  } else {
    if (!(ascii || prefersQuotedPrintable(content)) || /[ \t]$/.test(content)) return null;
    transferEncoding = "quoted-printable";
    const { encode, wrap } = quotedPrintable();
    body = wrap(ascii ? qpEncodeAscii(content) : encode(Buffer.from(content, "utf8")), 76);
  }
  // nodemailer's LastNewline: the message ends with a line break.
  if (!body.endsWith("\n")) body += body.endsWith("\r") ? "\n" : "\r\n";

  const envelopeFrom = from[0]!.address;
  const header: string[] = [];
  const line = (name: string, value: string) => header.push(foldLine(`${name}: ${value}`));
  const list = (boxes: Mailbox[]) => boxes.map((b) => b.text).join(", ");
  line("From", list(from));
  if (to.length > 0) line("To", list(to));
  if (cc.length > 0) line("Cc", list(cc));
  if (fields.replyTo) line("Reply-To", list(fields.replyTo));
  if (typeof subject === "string" && subject !== "") line("Subject", subject);
  // nodemailer's order: the caller's Message-ID, then the caller's Date; a Message-ID it makes up is
  // appended after them, and Content-Transfer-Encoding after that, before a Date it adds itself.
  const dateText = date !== undefined ? rfc5322Date(date as Date) : currentDate();
  if (typeof messageId === "string") line("Message-ID", messageId);
  if (date !== undefined) line("Date", dateText);
  if (typeof messageId !== "string") line("Message-ID", generatedMessageId(envelopeFrom));
  line("Content-Transfer-Encoding", transferEncoding);
  if (date === undefined) line("Date", dateText);
  line("MIME-Version", "1.0");
  line("Content-Type", `${contentType}; charset=utf-8`);

  const envelopeTo: string[] = [];
  const seen = new Set<string>();
  for (const b of [...to, ...cc, ...bcc]) {
    if (seen.has(b.address)) continue;
    seen.add(b.address);
    envelopeTo.push(b.address);
  }
  // Every character is ASCII by now (7bit text, quoted-printable, plain header values): latin1 is its
  // UTF-8 encoding, and quicker to write.
  return { raw: Buffer.from(`${header.join("\r\n")}\r\n\r\n${body}`, "latin1"), envelopeFrom, envelopeTo };
}

/** nodemailer's qp.encode for text whose characters are all bytes below 0x80 (so one char is one
 * byte): every byte outside TAB, CR, LF and printable ASCII but "=", and a blank before a line end
 * or the end, becomes =XX. */
const QP_ESCAPE = /[^\t\n\r\x20-\x3c\x3e-\x7e]|[ \t](?=[\r\n]|$)/g;
const qpEncodeAscii = (text: string) =>
  text.replace(QP_ESCAPE, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);

/** nodemailer's _getTextEncoding: quoted-printable when Latin letters outnumber other characters. */
function prefersQuotedPrintable(value: string): boolean {
  let other = 0;
  let latin = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x08 || code === 0x0b || code === 0x0c || (code >= 0x0e && code <= 0x1f) || code >= 0x80) other++;
    else if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) latin++;
  }
  return other < latin;
}

let lastDate = { second: NaN, text: "" };
/** Now as nodemailer writes it, made once a second (a bulk enqueue asks for it per message). */
function currentDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== lastDate.second) lastDate = { second, text: rfc5322Date(new Date(now)) };
  return lastDate.text;
}

/** nodemailer's form: `<8-4-4-4-12 hex digits@the sender's domain>`. */
function generatedMessageId(envelopeFrom: string): string {
  const hex = randomHex(16);
  const domain = envelopeFrom.split("@").pop();
  return `<${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}@${domain}>`;
}
