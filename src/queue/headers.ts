// Byte-faithful access to an RFC 5322 message's header block. The text is handled as latin1 so every
// byte maps to one char and back: 8-bit bodies in any charset are stored exactly as received.
import type Libmime from "libmime";
import { asBuffer } from "../bytes.ts";
import { DataError } from "../errors.ts";
import { nodeRequire } from "../runtime.ts";

// libmime builds iconv-lite's codec tables as it loads (5 ms of `sendmail -t`'s start-up): it is
// required at the first encoded word, which most messages never have. A require() inside a function
// stays lazy in the compiled bundle, where an import() would make every caller async.
let libmimeModule: typeof Libmime | null = null;
const libmime = (): typeof Libmime =>
  (libmimeModule ??= (typeof require === "function" ? require("libmime") : nodeRequire("libmime")) as typeof Libmime);

export interface HeaderField {
  /** The field name as written. */
  name: string;
  /** The whole field, continuation lines included, without the final line break (latin1 text). */
  raw: string;
}

export interface SplitMessage {
  fields: HeaderField[];
  /** Everything after the blank line, line breaks normalised to CRLF. */
  body: Uint8Array;
  /** The input was already in that form (CRLF only, a blank line after the header): joining the
   * fields unchanged with the body gives back the input byte for byte, so it can be kept as is. */
  canonical: boolean;
}

/** A header field name: printable ASCII without the colon (RFC 5322 ftext). */
export const FIELD_NAME = /^[!-9;-~]+$/;
export const toLatin1 = (bytes: Uint8Array) => asBuffer(bytes).toString("latin1");
export const fromLatin1 = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));

/** Every line break in `text` is CRLF: no LF without a CR before it, no CR without an LF after it. */
function crlfOnly(text: string): boolean {
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) if (text.charCodeAt(i - 1) !== 13) return false;
  for (let i = text.indexOf("\r"); i !== -1; i = text.indexOf("\r", i + 1)) if (text.charCodeAt(i + 1) !== 10) return false;
  return true;
}

/** crlfOnly on bytes[from, length), without decoding them (a body is most of a message). */
function crlfOnlyBytes(bytes: Uint8Array, from: number): boolean {
  for (let i = bytes.indexOf(10, from); i !== -1; i = bytes.indexOf(10, i + 1)) if (bytes[i - 1] !== 13) return false;
  for (let i = bytes.indexOf(13, from); i !== -1; i = bytes.indexOf(13, i + 1)) if (bytes[i + 1] !== 10) return false;
  return true;
}

const BLANK_LINE = Buffer.from("\r\n\r\n");

/** Parses the header block only. A text that is already CRLF-only with a blank line after its header
 * (the usual case) is checked on its bytes, its header alone is decoded, and its body is a view of the
 * input; any other text is decoded whole and its line ends normalised (latin1 maps each byte to one
 * char, so text offsets are byte offsets). */
export function splitMessage(bytes: Uint8Array): SplitMessage {
  const end = asBuffer(bytes).indexOf(BLANK_LINE);
  // The first CRLF CRLF ends the header only if no bare LF or CR came before it (a header ending in
  // LF LF is found by the normalising path below).
  let head = end === -1 ? "" : toLatin1(bytes.subarray(0, end));
  const canonical = end !== -1 && crlfOnly(head) && crlfOnlyBytes(bytes, end + 4);
  let body: Uint8Array;
  if (canonical) {
    body = bytes.subarray(end + 4);
  } else {
    const text = toLatin1(bytes).replace(/\r?\n/g, "\r\n");
    const at = text.indexOf("\r\n\r\n");
    head = at === -1 ? text.replace(/\r\n$/, "") : text.slice(0, at);
    // A bare CR is a line break to some MTAs and not to others: in a body it becomes CRLF (RFC 5322
    // allows no bare CR), in a header it is refused, since there it is how "Subject: x<CR>Bcc: y"
    // smuggles a header past an application that only checked for LF.
    body = at === -1 ? new Uint8Array(0) : fromLatin1(text.slice(at + 4).replace(/\r(?!\n)/g, "\r\n"));
  }
  if (head.includes("\0")) throw new DataError("message headers contain a NUL byte");
  if (!canonical && /\r(?!\n)/.test(head)) throw new DataError("message headers contain a bare CR (a line break must be CRLF or LF)");
  const fields: HeaderField[] = [];
  const lines = head === "" ? [] : head.split("\r\n");
  lines.forEach((line, index) => {
    const first = line.charCodeAt(0);
    if ((first === 32 || first === 9) && fields.length > 0) {
      fields[fields.length - 1]!.raw += "\r\n" + line;
      return;
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).trimEnd() : "";
    if (!FIELD_NAME.test(name)) {
      throw new DataError(`not an RFC 5322 message: header line ${index + 1} is not "Name: value": ${JSON.stringify(line.slice(0, 60))}`);
    }
    fields.push({ name, raw: line });
  });
  return { fields, body, canonical };
}

export function joinMessage({ fields, body }: Pick<SplitMessage, "fields" | "body">): Uint8Array {
  let head = "";
  for (const f of fields) head += f.raw + "\r\n";
  head += "\r\n";
  const out = new Uint8Array(head.length + body.byteLength);
  asBuffer(out).write(head, 0, "latin1");
  out.set(body, head.length);
  return out;
}

/** The unfolded value, decoded from UTF-8 where it is valid UTF-8 and from RFC 2047 words. */
export function fieldValue(field: HeaderField): string {
  let raw = field.raw.slice(field.raw.indexOf(":") + 1);
  if (raw.includes("\r\n")) raw = raw.replace(/\r\n(?=[ \t])/g, "");
  raw = raw.trim();
  let text = raw;
  // Pure ASCII (the usual case) is its own UTF-8 decoding.
  if (/[\x80-\xff]/.test(raw)) {
    const bytes = Buffer.from(raw, "latin1");
    if (isUtf8(bytes)) text = bytes.toString("utf8");
  }
  // Nothing to decode without an encoded word (decodeWords would return the text unchanged).
  if (!text.includes("=?")) return text;
  try {
    return libmime().decodeWords(text);
  } catch {
    return text;
  }
}

/** One decoder for every check: without `stream`, each decode() starts afresh, also after a failure. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Field names are ASCII, so a different length means a different name without lower-casing it. */
const named = (field: HeaderField, lower: string) => field.name.length === lower.length && field.name.toLowerCase() === lower;

export const findFields = (fields: HeaderField[], name: string) => {
  const lower = name.toLowerCase();
  return fields.filter((f) => named(f, lower));
};

export const firstValue = (fields: HeaderField[], name: string): string | null => {
  const lower = name.toLowerCase();
  const field = fields.find((f) => named(f, lower));
  return field ? fieldValue(field) : null;
};

export const hasField = (fields: HeaderField[], name: string) => {
  const lower = name.toLowerCase();
  return fields.some((f) => named(f, lower));
};

/** `fields` itself when no field has that name (so a caller can tell nothing was removed). */
export const withoutFields = (fields: HeaderField[], name: string) => {
  const lower = name.toLowerCase();
  return fields.some((f) => named(f, lower)) ? fields.filter((f) => !named(f, lower)) : fields;
};

/** A new header field; refuses values that would inject more headers. */
export function makeField(name: string, value: string): HeaderField {
  if (!FIELD_NAME.test(name)) throw new DataError(`header name ${JSON.stringify(name)} is not valid`);
  if (/[\r\n\0]/.test(value)) throw new DataError(`header ${name}: value contains a line break or NUL`);
  // Non-ASCII values become RFC 2047 encoded words, so the stored header block stays 7-bit.
  const encoded = /[^\x20-\x7e\t]/.test(value) ? libmime().encodeWords(value, "Q", 52) : value;
  return { name, raw: `${name}: ${encoded}` };
}

/** `"Display Name" <addr>` for a From we add ourselves (sendmail -F); a non-ASCII name becomes one
 * RFC 2047 word, since encoded words are not allowed inside a quoted string. */
export function mailbox(name: string | undefined, address: string): string {
  if (name === undefined || name.trim() === "") return address;
  if (/[\r\n\0]/.test(name)) throw new DataError("sender name contains a line break or NUL");
  const phrase = /[^\x20-\x7e]/.test(name) ? libmime().encodeWord(name.trim(), "Q") : `"${name.trim().replace(/(["\\])/g, "\\$1")}"`;
  return `${phrase} <${address}>`;
}
