// PostgreSQL's bytea in text form, both ways: postgres.js sends parameters and reads results as text.
import { isAscii } from "node:buffer";
import { asBuffer } from "../bytes.ts";

/** A bytea parameter in text form (postgres.js sends every parameter as text). Its own form is hex,
 * made from a copy: twice the bytes to build, send and decode. ASCII text without NUL or backslash —
 * most mail — is its own bytea "escape" input, which the server takes byte for byte; anything else
 * goes as hex. */
export function byteaParameter(value: Uint8Array): string {
  const bytes = asBuffer(value);
  return isAscii(bytes) && !bytes.includes(92) && !bytes.includes(0) ? bytes.toString("latin1") : "\\x" + bytes.toString("hex");
}

/** A bytea result in text form. The server's default is hex (`\x...`); a database or role set to
 * `bytea_output = escape` sends the escape form instead, which read as hex would silently turn every
 * message text into garbage. A claim asks for the escape form itself (dialect-sql.ts bytesAsText). */
export function byteaResult(text: string): Buffer {
  if (text.startsWith("\\x")) return Buffer.from(text.slice(2), "hex");
  // Escape form without a backslash: every character is the byte itself (8-bit bytes are escaped).
  if (!text.includes("\\")) return Buffer.from(text, "latin1");
  // Escape form: a backslash starts "\\" (one backslash) or three octal digits; all else is itself.
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 92) {
      out[n++] = c;
    } else if (text.charCodeAt(i + 1) === 92) {
      out[n++] = 92;
      i += 1;
    } else {
      out[n++] = parseInt(text.slice(i + 1, i + 4), 8);
      i += 3;
    }
  }
  return out.subarray(0, n);
}
