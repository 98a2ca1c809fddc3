// A message's text and its final dot leave in one socket write (src/transports/smtp-one-write.ts),
// and the bytes written are exactly what nodemailer's own DataStream writes in two: checked against
// an unwrapped DataStream fed the same chunks, for stored texts of every shape, for a message
// nodemailer composes (many chunks), and for a text held until the hold says so. The transport logs
// at debug, the level at which a stored text takes nodemailer's stream path (at any other it skips
// streams: smtp-stored-send.ts, checked in smtp-stored.test.ts and smtp-data-bytes.test.ts).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Socket } from "node:net";
import type { Transform } from "node:stream";
import nodemailer from "nodemailer";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { loadConfig } from "../../src/config/load.ts";
import { memoryLogger } from "../../src/log.ts";
import { smtpTransport } from "../../src/transports/smtp.ts";
import type { OutgoingMessage, Transport } from "../../src/transports/types.ts";
import { tempDir } from "../helpers/db.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";
import { dataStreamOutput } from "../helpers/data-stream.ts";

let sink: Sink;
let transport: Transport;
const dir = tempDir();

/** Every Socket#write while a test runs (the sink's replies too), and the send streams made meanwhile
 * (with what they were fed). */
let writes: { socket: Socket; chunk: Buffer }[] = [];
let streams: { input: Buffer[] }[] = [];
const originalWrite = Socket.prototype.write;
const proto = SMTPConnection.prototype as unknown as { _createSendStream(this: unknown, callback: unknown): Transform };
const wrappedCreate = proto._createSendStream;

beforeAll(async () => {
  sink = await startSink();
  const env = { MAILER_BACKEND_HOST: sink.host, MAILER_BACKEND_PORT: String(sink.port), MAILER_BACKEND_POOL: "1" };
  const { config } = loadConfig({ env, cwd: dir.path, systemPath: `${dir.path}/none.toml` });
  transport = await smtpTransport(config, memoryLogger("debug"));
  Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
    writes.push({ socket: this, chunk: Buffer.from(chunk as Buffer) });
    return (originalWrite as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof Socket.prototype.write;
  proto._createSendStream = function (this: unknown, callback: unknown) {
    const stream = wrappedCreate.call(this, callback);
    const entry = { input: [] as Buffer[] };
    const write = stream.write;
    stream.write = function (this: Transform, chunk: unknown, ...rest: unknown[]) {
      entry.input.push(Buffer.from(chunk as Buffer));
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
    streams.push(entry);
    return stream;
  };
});

afterEach(() => {
  writes = [];
  streams = [];
});

afterAll(async () => {
  Socket.prototype.write = originalWrite;
  proto._createSendStream = wrappedCreate;
  await transport.close();
  await sink.close();
  dir.cleanup();
});

/** The client's writes after its DATA command: the text and the final dot. */
function textWrites(): Buffer[] {
  const data = writes.findIndex((w) => w.chunk.toString("latin1").endsWith("DATA\r\n"));
  expect(data).toBeGreaterThanOrEqual(0);
  const client = writes[data]!.socket;
  return writes.slice(data + 1).filter((w) => w.socket === client).map((w) => w.chunk);
}

async function sendAndCompare(message: OutgoingMessage) {
  const before = sink.received.length;
  await transport.send(message);
  await sink.waitFor(before + 1);
  expect(streams).toHaveLength(1);
  const { input } = streams[0]!;
  const expected = await dataStreamOutput(input);
  const written = textWrites();
  return { expected, written };
}

const latin1 = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));
const envelope = { from: "sender@example.com", to: ["rcpt@example.com"] };

describe("a stored text and its final dot go in one write, with nodemailer's bytes", () => {
  const texts: Record<string, string> = {
    "CRLF text": "Subject: one\r\n\r\nbody\r\n",
    "no final line break": "Subject: two\r\n\r\nlast line",
    "ends with a bare CR": "Subject: three\r\n\r\nlast line\r",
    "LF line ends": "Subject: four\n\nline one\nline two\n",
    "lines starting with a dot": "Subject: five\r\n\r\n.\r\n..two\r\n.three\r\nend\r\n",
    "8-bit bytes": "Subject: caf\xe9\r\n\r\n\xff\xfe\x80 bytes\r\n",
    "a large text": `Subject: six\r\n\r\n${"x".repeat(998)}\r\n`.repeat(400),
  };
  for (const [name, text] of Object.entries(texts)) {
    test(name, async () => {
      const { expected, written } = await sendAndCompare({ envelope, raw: latin1(text), messageId: "<a@x>" });
      // Unwrapped, the text and the dot are two writes; here one, holding the same bytes.
      expect(expected).toHaveLength(2);
      expect(written).toHaveLength(1);
      expect(written[0]!.toString("hex")).toBe(Buffer.concat(expected).toString("hex"));
      expect(written[0]!.toString("latin1")).toEndWith(".\r\n");
    });
  }
});

test("a text held until its hold says so still goes in one write with its dot", async () => {
  let release!: (go: boolean) => void;
  const hold = new Promise<boolean>((resolve) => (release = resolve));
  const sent = transport.send({ envelope, raw: latin1("Subject: held\r\n\r\nbody\r\n"), messageId: "<h@x>", hold });
  setTimeout(() => release(true), 50);
  await sent;
  const { input } = streams[0]!;
  const expected = await dataStreamOutput(input);
  const written = textWrites();
  expect(written).toHaveLength(1);
  expect(written[0]!.equals(Buffer.concat(expected))).toBe(true);
});

test("a message composed by nodemailer, fed in many chunks, writes one chunk fewer: the last joined to the dot", async () => {
  const composer = nodemailer.createTransport({ host: sink.host, port: sink.port });
  const before = sink.received.length;
  await composer.sendMail({
    from: "sender@example.com",
    to: "rcpt@example.com",
    subject: "parts",
    text: "hello",
    attachments: [{ filename: "a.bin", content: Buffer.alloc(200_000, 0x41) }],
  });
  composer.close();
  await sink.waitFor(before + 1);
  const { input } = streams[0]!;
  const expected = await dataStreamOutput(input);
  const written = textWrites();
  expect(expected.length).toBeGreaterThan(2);
  expect(written).toHaveLength(expected.length - 1);
  expect(Buffer.concat(written).equals(Buffer.concat(expected))).toBe(true);
  expect(written.at(-1)!.toString("latin1")).toEndWith("\r\n.\r\n");
});
