// Reading a message from standard input as bytes (never decoded: 8-bit text in any charset is kept).
import { readSync } from "node:fs";
import { asBuffer } from "../bytes.ts";
import { DataError } from "../errors.ts";
import { standardInput } from "../runtime.ts";

/** Bytes read so far, refusing to hold more than `maxBytes` in memory (queue.max_size). */
class Collected {
  readonly chunks: Buffer[] = [];
  total = 0;
  constructor(readonly maxBytes: number) {}

  add(bytes: Buffer): void {
    this.total += bytes.byteLength;
    if (this.total > this.maxBytes) throw new DataError(`message is over the limit of ${this.maxBytes} bytes (queue.max_size)`);
    this.chunks.push(Buffer.from(bytes));
  }

  all(): Uint8Array {
    const all = Buffer.concat(this.chunks);
    return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
  }
}

async function collect(into: Collected, input: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  for await (const chunk of input) into.add(asBuffer(chunk));
  return into.all();
}

/** All of standard input, refusing to hold more than `maxBytes` in memory. Read from the descriptor,
 * blocking, where it allows that (a file, a pipe, a terminal: what cron, PHP and a shell give
 * sendmail): setting up a stream cost a short command 0.2 to 0.4 ms, against 0.03 for the whole
 * read. A descriptor that would block (O_NONBLOCK, set by a parent sharing it) or cannot be read
 * that way hands the rest to the stream. */
export async function readStandardInput(maxBytes: number): Promise<Uint8Array> {
  const into = new Collected(maxBytes);
  const buffer = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let read: number;
    try {
      read = readSync(0, buffer, 0, buffer.length, null);
    } catch {
      return collect(into, standardInput());
    }
    if (read === 0) return into.all();
    into.add(buffer.subarray(0, read));
  }
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
