// nodemailer's own DataStream (the pinned version's file: it is not in nodemailer's exports map), the
// reference the stored-text send paths are checked against.
import type { Transform } from "node:stream";
import DataStream from "../../node_modules/nodemailer/dist/esm/smtp-connection/data-stream.js";

/** What a fresh DataStream pushes, in order, for these chunks written one by one and then its end. */
export async function dataStreamOutput(chunks: Buffer[]): Promise<Buffer[]> {
  const stream = new (DataStream as unknown as new () => Transform)();
  const out: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => stream.on("end", resolve));
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  await ended;
  return out;
}
