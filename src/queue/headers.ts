// Byte-faithful access to an RFC 5322 message's header block. The text is handled as latin1 so every
// byte maps to one char and back: 8-bit bodies in any charset are stored exactly as received.
import libmime from "libmime";
import { DataError } from "../errors.ts";

export interface HeaderField {
  /** The field name as written. */
  name: string;
  /** The whole field, continuation lines included, without the final line break (latin1 text). */
  raw: string;
}

export interface SplitMessage {
  fields: HeaderField[];
  /** Everything after the blank line, line breaks normalised to CRLF (latin1 text). */
  body: string;
}

const FIELD_NAME = /^[!-9;-~]+$/;
export const toLatin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
export const fromLatin1 = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));

export function splitMessage(bytes: Uint8Array): SplitMessage {
  const text = toLatin1(bytes).replace(/\r?\n/g, "\r\n");
  const end = text.indexOf("\r\n\r\n");
  const head = end === -1 ? text.replace(/\r\n$/, "") : text.slice(0, end);
  const body = end === -1 ? "" : text.slice(end + 4);
  if (head.includes("\0")) throw new DataError("message headers contain a NUL byte");
  const fields: HeaderField[] = [];
  const lines = head === "" ? [] : head.split("\r\n");
  lines.forEach((line, index) => {
    if (/^[ \t]/.test(line) && fields.length > 0) {
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
  return { fields, body };
}

export function joinMessage({ fields, body }: SplitMessage): Uint8Array {
  return fromLatin1(fields.map((f) => f.raw + "\r\n").join("") + "\r\n" + body);
}

/** The unfolded value, decoded from UTF-8 where it is valid UTF-8 and from RFC 2047 words. */
export function fieldValue(field: HeaderField): string {
  const raw = field.raw.slice(field.raw.indexOf(":") + 1).replace(/\r\n(?=[ \t])/g, "").trim();
  const bytes = Buffer.from(raw, "latin1");
  const text = isUtf8(bytes) ? bytes.toString("utf8") : raw;
  try {
    return libmime.decodeWords(text);
  } catch {
    return text;
  }
}

export function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export const findFields = (fields: HeaderField[], name: string) =>
  fields.filter((f) => f.name.toLowerCase() === name.toLowerCase());

export const firstValue = (fields: HeaderField[], name: string): string | null => {
  const field = findFields(fields, name)[0];
  return field ? fieldValue(field) : null;
};

export const withoutFields = (fields: HeaderField[], name: string) =>
  fields.filter((f) => f.name.toLowerCase() !== name.toLowerCase());

/** A new header field; refuses values that would inject more headers. */
export function makeField(name: string, value: string): HeaderField {
  if (!FIELD_NAME.test(name)) throw new DataError(`header name ${JSON.stringify(name)} is not valid`);
  if (/[\r\n\0]/.test(value)) throw new DataError(`header ${name}: value contains a line break or NUL`);
  // Non-ASCII values become RFC 2047 encoded words, so the stored header block stays 7-bit.
  const encoded = /[^\x20-\x7e\t]/.test(value) ? libmime.encodeWords(value, "Q", 52) : value;
  return { name, raw: `${name}: ${encoded}` };
}

/** `"Display Name" <addr>` for a From we add ourselves (sendmail -F); a non-ASCII name becomes one
 * RFC 2047 word, since encoded words are not allowed inside a quoted string. */
export function mailbox(name: string | undefined, address: string): string {
  if (name === undefined || name.trim() === "") return address;
  if (/[\r\n\0]/.test(name)) throw new DataError("sender name contains a line break or NUL");
  const phrase = /[^\x20-\x7e]/.test(name) ? libmime.encodeWord(name.trim(), "Q") : `"${name.trim().replace(/(["\\])/g, "\\$1")}"`;
  return `${phrase} <${address}>`;
}
