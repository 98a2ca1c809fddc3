// Reading a message from standard input as bytes (never decoded: 8-bit text in any charset is kept).
import type { Readable } from "node:stream";
import { asBuffer } from "../bytes.ts";
import { DataError } from "../errors.ts";

/** All of `input`, refusing to hold more than `maxBytes` in memory (queue.max_size). */
export async function readAll(input: Readable | AsyncIterable<Uint8Array | string>, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of input as AsyncIterable<Uint8Array | string>) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : asBuffer(chunk);
    total += bytes.byteLength;
    if (total > maxBytes) {
      throw new DataError(`message is over the limit of ${maxBytes} bytes (queue.max_size)`);
    }
    chunks.push(Buffer.from(bytes));
  }
  const all = Buffer.concat(chunks);
  return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
}

/** sendmail without -i: a line holding only "." ends the message; what follows is ignored. */
export function cutAtLoneDot(bytes: Uint8Array): Uint8Array {
  let lineStart = 0;
  while (lineStart < bytes.length) {
    let end = bytes.indexOf(0x0a, lineStart);
    if (end === -1) end = bytes.length;
    const lineEnd = end > lineStart && bytes[end - 1] === 0x0d ? end - 1 : end;
    if (lineEnd - lineStart === 1 && bytes[lineStart] === 0x2e) return bytes.subarray(0, lineStart);
    lineStart = end + 1;
  }
  return bytes;
}
