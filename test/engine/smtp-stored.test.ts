// The SMTP backend hands a stored text straight to nodemailer's pool instead of composing it through
// sendMail (src/transports/smtp.ts). What reaches the server must be exactly what sendMail would have
// sent: the same envelope and the same bytes, for every shape of text a queue row can hold. Both
// ways a pooled connection sends a stored text are checked: written at once (smtp-stored-send.ts, the
// usual case) and through nodemailer's own stream (a connection that logs its conversation, debug).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { LogLevel } from "../../src/log.ts";
import nodemailer from "nodemailer";
import { loadConfig } from "../../src/config/load.ts";
import { memoryLogger } from "../../src/log.ts";
import { isPlainEnvelope, smtpTransport } from "../../src/transports/smtp.ts";
import type { OutgoingMessage, Transport } from "../../src/transports/types.ts";
import { tempDir } from "../helpers/db.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";

let sink: Sink;
let transport: Transport;
let debugTransport: Transport;
let reference: ReturnType<typeof nodemailer.createTransport>;
const dir = tempDir();

beforeAll(async () => {
  sink = await startSink();
  const env = { MAILER_BACKEND_HOST: sink.host, MAILER_BACKEND_PORT: String(sink.port), MAILER_BACKEND_POOL: "2" };
  const { config } = loadConfig({ env, cwd: dir.path, systemPath: `${dir.path}/none.toml` });
  transport = await smtpTransport(config, memoryLogger("info"));
  debugTransport = await smtpTransport(config, memoryLogger("debug"));
  reference = nodemailer.createTransport({ pool: true, host: sink.host, port: sink.port, maxMessages: Infinity });
});

afterAll(async () => {
  await transport.close();
  await debugTransport.close();
  reference.close();
  await sink.close();
  dir.cleanup();
});

const latin1 = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));

const TEXTS: Record<string, Uint8Array> = {
  "CRLF text": latin1("Message-ID: <a@x>\r\nSubject: one\r\n\r\nbody\r\n"),
  "no final line break": latin1("Subject: two\r\n\r\nlast line"),
  "ends with a bare CR": latin1("Subject: three\r\n\r\nlast line\r"),
  "LF line ends (a row written by hand)": latin1("Subject: four\n\nline one\nline two\n"),
  "lines starting with a dot": latin1("Subject: five\r\n\r\n.\r\n..two\r\n.three\r\nend\r\n"),
  "8-bit bytes": latin1("Subject: caf\xe9\r\n\r\n\xff\xfe\x80 bytes\r\n"),
};

const ENVELOPES: Record<string, OutgoingMessage["envelope"]> = {
  "one recipient": { from: "sender@example.com", to: ["rcpt@example.com"] },
  "several recipients": { from: "sender@example.com", to: ["a@example.com", "b@example.org", "c@example.net"] },
  "the null sender": { from: "", to: ["rcpt@example.com"] },
  "an IDN domain (composed path)": { from: "sender@example.com", to: ["rcpt@b\u00fccher.example"] },
};

const transportAt = (level: LogLevel) => (level === "debug" ? debugTransport : transport);

/** Sends the same message both ways and returns what the sink got from each. */
async function bothWays(message: OutgoingMessage, level: LogLevel) {
  const before = sink.received.length;
  await transportAt(level).send(message);
  await reference.sendMail({ envelope: { ...message.envelope }, raw: Buffer.from(message.raw), messageId: message.messageId });
  const [ours, theirs] = (await sink.waitFor(before + 2)).slice(before);
  return { ours: ours!, theirs: theirs! };
}

describe.each(["info", "debug"] as const)("a stored text sent by the SMTP backend arrives as sendMail would have sent it (log level %s)", (level) => {
  for (const [name, raw] of Object.entries(TEXTS)) {
    test(name, async () => {
      const { ours, theirs } = await bothWays({ envelope: ENVELOPES["one recipient"]!, raw, messageId: "<a@x>" }, level);
      expect(ours.raw.toString("hex")).toBe(theirs.raw.toString("hex"));
      expect({ from: ours.from, to: ours.to }).toEqual({ from: theirs.from, to: theirs.to });
    });
  }
  for (const [name, envelope] of Object.entries(ENVELOPES)) {
    test(`envelope: ${name}`, async () => {
      const { ours, theirs } = await bothWays({ envelope, raw: TEXTS["CRLF text"]!, messageId: "<a@x>" }, level);
      expect({ from: ours.from, to: ours.to }).toEqual({ from: theirs.from, to: theirs.to });
      expect(ours.raw.equals(theirs.raw)).toBe(true);
    });
  }
});

test("bare ASCII envelopes go straight to the pool; anything nodemailer would rewrite is composed", () => {
  const raw = TEXTS["CRLF text"]!;
  expect(isPlainEnvelope({ envelope: ENVELOPES["several recipients"]!, raw })).toBe(true);
  expect(isPlainEnvelope({ envelope: ENVELOPES["the null sender"]!, raw })).toBe(true);
  expect(isPlainEnvelope({ envelope: ENVELOPES["an IDN domain (composed path)"]!, raw })).toBe(false);
  expect(isPlainEnvelope({ envelope: { from: "Name <a@example.com>", to: ["b@example.com"] }, raw })).toBe(false);
  expect(isPlainEnvelope({ envelope: { from: "a@example.com", to: ["b@example.com", "c @example.com"] }, raw })).toBe(false);
});

test("a recipient refused while others are accepted is reported as rejected, with the reason", async () => {
  sink.onRecipient = (address) => (address === "no@example.com" ? { code: 550, message: "no such user" } : undefined);
  try {
    const result = await transport.send({
      envelope: { from: "sender@example.com", to: ["yes@example.com", "no@example.com"] },
      raw: TEXTS["CRLF text"]!,
      messageId: "<a@x>",
    });
    expect(result.accepted).toEqual(["yes@example.com"]);
    expect(result.rejected).toEqual(["no@example.com"]);
    expect(result.rejectedReasons?.[0]).toMatch(/no such user/);
  } finally {
    sink.onRecipient = () => undefined;
  }
});

test("a message the server refuses rejects with the server's reply code", async () => {
  sink.onMessage = () => ({ code: 451, message: "try again later" });
  try {
    const sending = transport.send({ envelope: ENVELOPES["one recipient"]!, raw: TEXTS["CRLF text"]!, messageId: "<a@x>" });
    await expect(sending).rejects.toMatchObject({ responseCode: 451 });
    // The connection is still good for the next message.
    sink.onMessage = () => undefined;
    const result = await transport.send({ envelope: ENVELOPES["one recipient"]!, raw: TEXTS["CRLF text"]!, messageId: "<a@x>" });
    expect(result.accepted).toEqual(["rcpt@example.com"]);
  } finally {
    sink.onMessage = () => undefined;
  }
});

test("a connection the server closed between messages: the next message goes over a new one", async () => {
  const message = { envelope: ENVELOPES["one recipient"]!, raw: TEXTS["CRLF text"]!, messageId: "<a@x>" };
  await transport.send(message);
  const before = sink.connections;
  sink.dropConnections();
  // Sent at once, the client may not have seen the close yet: the pool then retries the message on a
  // new connection (nothing of it was sent), which needs a stream it can tell was never read.
  const result = await transport.send(message);
  expect(result.accepted).toEqual(["rcpt@example.com"]);
  expect(sink.connections).toBeGreaterThan(before);
});

describe.each(["info", "debug"] as const)("a held text (log level %s)", (level) => {
  const send = (hold: Promise<boolean>) =>
    transportAt(level).send({ envelope: ENVELOPES["one recipient"]!, raw: TEXTS["CRLF text"]!, messageId: "<held@x>", hold });

  test("goes out once its hold says yes, as sent unheld", async () => {
    let release!: (go: boolean) => void;
    const before = sink.received.length;
    const sending = send(new Promise<boolean>((resolve) => (release = resolve)));
    await Bun.sleep(50);
    expect(sink.received.length).toBe(before);
    release(true);
    expect((await sending).accepted).toEqual(["rcpt@example.com"]);
    const [arrived] = (await sink.waitFor(before + 1)).slice(before);
    expect(arrived!.raw.equals(Buffer.from(TEXTS["CRLF text"]!))).toBe(true);
  });

  test("is never delivered when its hold says no or fails, and the next message still goes", async () => {
    const before = sink.received.length;
    await expect(send(Promise.resolve(false))).rejects.toThrow(/held back/);
    const failing = Promise.reject(new Error("the list could not be read"));
    failing.catch(() => {}); // handled by the send, later than the runtime's unhandled-rejection check
    await expect(send(failing)).rejects.toThrow(/could not be read/);
    const result = await send(Promise.resolve(true));
    expect(result.accepted).toEqual(["rcpt@example.com"]);
    await sink.waitFor(before + 1);
    await Bun.sleep(100);
    expect(sink.received.length).toBe(before + 1);
  });
});

test("a connection dropped once the text was written: the send fails and the pool does not send it again", async () => {
  const message = (subject: string) => ({
    envelope: ENVELOPES["one recipient"]!, raw: latin1(`Subject: ${subject}\r\n\r\nbody\r\n`), messageId: `<${subject}@x>`,
  });
  // Both pooled connections carry a message first: the pool retries only on a reused connection.
  await Promise.all([transport.send(message("warm-1")), transport.send(message("warm-2"))]);
  let attempts = 0;
  sink.onMessage = (m) => (m.subject === "dropped" ? (attempts++, "drop") : undefined);
  try {
    await expect(transport.send(message("dropped"))).rejects.toThrow();
    await Bun.sleep(300);
    expect(attempts).toBe(1);
    expect((await transport.send(message("after"))).accepted).toEqual(["rcpt@example.com"]);
  } finally {
    sink.onMessage = () => undefined;
  }
});
