// 8-bit text for a server that does not take it (RFC 6152): what Postfix does when the next hop
// offers no 8BITMIME. Every MIME leaf whose body has bytes above 127 is re-encoded, quoted-printable
// for text/* and base64 for anything else, with its Content-Transfer-Encoding changed to match, so a
// MIME reader decodes the very bytes that were stored. Multiparts and message/rfc822 are walked into;
// delimiters, preambles and every 7-bit part stay byte for byte as they were. Non-ASCII in an
// unstructured header (Subject, Comments, X-…) becomes an RFC 2047 encoded word; in any other header
// (addresses, Content-Type …) it cannot be expressed in 7 bits, and the message is refused with a
// clear reason rather than sent in breach of the protocol.
//
// The text is handled as latin1 strings: one character per byte, so nothing is decoded or lost.
import { DataError } from "../errors.ts";
import { fieldValue, firstValue, hasField, makeField, withoutFields, type HeaderField } from "../queue/headers.ts";

const EIGHT_BIT = /[\x80-\xff]/;

/** `raw` (CRLF line ends, as stored) with no byte above 127. Throws DataError when a structured
 * header holds one. */
export function to7bit(raw: Uint8Array): Uint8Array {
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1");
  let out = entity(text);
  // A Content-Transfer-Encoding means something only under MIME-Version (RFC 2045 §4).
  if (out !== text && !hasField(parseFields(headOf(out)), "MIME-Version")) out = `MIME-Version: 1.0\r\n${out}`;
  return Buffer.from(out, "latin1");
}

/** Unstructured fields (RFC 5322 §3.6.5 and custom X- fields): free text, where encoded words are allowed. */
const UNSTRUCTURED = /^(subject|comments|x-[a-z0-9-]*)$/i;

const headOf = (text: string) => (text.startsWith("\r\n") ? "" : text.slice(0, text.indexOf("\r\n\r\n") + 2 || text.length));

function entity(text: string): string {
  let head: string;
  let body: string | null;
  if (text.startsWith("\r\n")) {
    head = "";
    body = text.slice(2);
  } else {
    const split = text.indexOf("\r\n\r\n");
    head = split < 0 ? text : text.slice(0, split + 2);
    body = split < 0 ? null : text.slice(split + 4);
  }
  let fields = parseFields(head);
  const type = (firstValue(fields, "Content-Type") ?? "text/plain").trim();
  const media = type.split(";")[0]!.trim().toLowerCase();
  if (EIGHT_BIT.test(head)) fields = fields.map(sevenBitField);
  let newHead = EIGHT_BIT.test(head) ? joinFields(fields) : head;
  if (body === null) return newHead;
  let newBody = body;
  if (media.startsWith("multipart/")) {
    const boundary = parameter(type, "boundary");
    if (boundary) newBody = multipart(body, boundary);
  } else if (media === "message/rfc822" || media === "message/global") {
    newBody = entity(body);
    if (newBody !== body) newHead = setEncoding(fields, "7bit");
  } else if (EIGHT_BIT.test(body)) {
    const textual = media.startsWith("text/");
    newBody = textual ? quotedPrintable(body) : base64(body);
    newHead = setEncoding(fields, textual ? "quoted-printable" : "base64");
  }
  return `${newHead}\r\n${newBody}`;
}

function multipart(body: string, boundary: string): string {
  // A delimiter is a whole line "--boundary", "--boundary--" closes (RFC 2046 §5.1.1); the line
  // break before it belongs to it. The preamble and the epilogue are left as they are.
  const escaped = boundary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const delimiter = new RegExp(`(^|\\r\\n)(--${escaped}(--)?[ \\t]*)(?=\\r\\n|$)`, "g");
  let out = "";
  let at = 0;
  let inPart = false;
  for (let match = delimiter.exec(body); match; match = delimiter.exec(body)) {
    const chunk = body.slice(at, match.index);
    out += (inPart ? entity(chunk) : chunk) + match[1]! + match[2]!;
    at = match.index + match[0].length;
    if (match[3] !== undefined) {
      inPart = false;
      break;
    }
    if (body.startsWith("\r\n", at)) {
      out += "\r\n";
      at += 2;
    }
    inPart = true;
  }
  const rest = body.slice(at);
  return out + (inPart ? entity(rest) : rest);
}

/** The header's fields (raw, continuation lines included, no final line break). */
function parseFields(head: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of head.split("\r\n")) {
    if (line === "") continue;
    if ((line[0] === " " || line[0] === "\t") && fields.length > 0) fields[fields.length - 1]!.raw += "\r\n" + line;
    else fields.push({ name: line.slice(0, Math.max(0, line.indexOf(":"))).trim(), raw: line });
  }
  return fields;
}

const joinFields = (fields: HeaderField[]) => fields.map((f) => f.raw + "\r\n").join("");

function parameter(contentType: string, name: string): string | null {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, "i").exec(contentType);
  return match ? (match[1] ?? match[2] ?? null) : null;
}

function setEncoding(fields: HeaderField[], encoding: string): string {
  return joinFields([...withoutFields(fields, "Content-Transfer-Encoding"), makeField("Content-Transfer-Encoding", encoding)]);
}

/** An unstructured field's value made again as RFC 2047 words (makeField), read as UTF-8 where it is
 * UTF-8 and as Latin-1 otherwise (fieldValue); any other field with 8 bits is refused. */
function sevenBitField(field: HeaderField): HeaderField {
  if (!EIGHT_BIT.test(field.raw)) return field;
  if (!UNSTRUCTURED.test(field.name)) {
    throw new DataError(
      `the ${field.name || "(unnamed)"} header holds non-ASCII bytes, and the server offers no 8BITMIME: ` +
        "it cannot be sent in 7 bits without changing what it says",
    );
  }
  return makeField(field.name, fieldValue(field));
}

/** RFC 2045 §6.7: line breaks stay hard breaks; lines longer than 76 get soft breaks. */
function quotedPrintable(body: string): string {
  return body
    .split("\r\n")
    .map((line) => {
      let out = "";
      let width = 0;
      for (let i = 0; i < line.length; i++) {
        const code = line.charCodeAt(i);
        const last = i === line.length - 1;
        const literal = (code >= 33 && code <= 126 && code !== 61) || ((code === 32 || code === 9) && !last);
        const piece = literal ? line[i]! : `=${code.toString(16).toUpperCase().padStart(2, "0")}`;
        if (width + piece.length > 75) {
          out += "=\r\n";
          width = 0;
        }
        out += piece;
        width += piece.length;
      }
      return out;
    })
    .join("\r\n");
}

function base64(body: string): string {
  const encoded = Buffer.from(body, "latin1").toString("base64");
  return (encoded.match(/.{1,76}/g) ?? []).join("\r\n") + "\r\n";
}
