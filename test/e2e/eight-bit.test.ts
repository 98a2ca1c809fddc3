// SMTP protocol correctness outbound (issue 16 item 4), through the compiled binary against real SMTP
// peers that offer, or do not offer, 8BITMIME and SMTPUTF8.
import { afterEach, expect, test } from "bun:test";
import { isAscii } from "node:buffer";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { parse } from "../helpers/intake.ts";
import type { SinkOptions } from "../helpers/smtp-sink.ts";
import { enqueueMessages } from "../../src/queue/enqueue.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

// Every byte but NUL, CR and LF (intake turns a bare LF into CRLF, so those would not be stored as given).
const binary = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1).filter((b) => b !== 10 && b !== 13));
const utf8 = (text: string) => Buffer.from(text, "utf8").toString("latin1");
/** A message as PHP's mail() or a hand-written script hands it over: raw 8-bit parts. */
const EIGHT_BIT =
  'From: app@example.com\r\nTo: a@example.com\r\nSubject: Rechnung\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="sep"\r\n\r\n' +
  `--sep\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${utf8("Grüße — 5 €")}\r\n` +
  `--sep\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="r.bin"\r\nContent-Transfer-Encoding: binary\r\n\r\n${binary.toString("latin1")}\r\n` +
  "--sep--\r\n";

async function withMessage(sink: SinkOptions, text: string, envelopeTo?: string): Promise<Bench> {
  b = await bench("sqlite", {}, sink);
  const [outcome] = await enqueueMessages(b.db, [prepareMessage(new Uint8Array(Buffer.from(text, "latin1")))]);
  // An envelope no intake path would write, as an app's own INSERT can.
  if (envelopeTo) await b.db.kysely.updateTable("mailer_message").set({ envelope_to: envelopeTo }).where("id", "=", outcome!.id!).execute();
  return b;
}

test("to a server without 8BITMIME, 8-bit parts arrive as valid 7-bit MIME that decodes to the same bytes", async () => {
  const bench = await withMessage({ hide: ["8BITMIME"] }, EIGHT_BIT);
  expect(summary((await bench.run(["send-mail"])).stdout).sent).toBe(1);
  const [got] = bench.sink.received;
  expect(isAscii(got!.raw)).toBe(true);
  expect(got!.mailParams.BODY).toBeUndefined();
  const mail = await parse(got!.raw);
  expect(mail.text?.trim()).toBe("Grüße — 5 €");
  expect(Buffer.compare(mail.attachments[0]!.content, binary)).toBe(0);
  expect(got!.raw.toString("latin1")).toContain("Content-Transfer-Encoding: base64");
});

test("to a server with 8BITMIME, the stored bytes go unchanged with BODY=8BITMIME", async () => {
  const bench = await withMessage({}, EIGHT_BIT);
  expect(summary((await bench.run(["send-mail"])).stdout).sent).toBe(1);
  const [got] = bench.sink.received;
  expect(got!.mailParams.BODY).toBe("8BITMIME");
  const stored = (await bench.logs())[0]!.message_data as Uint8Array;
  expect(Buffer.compare(got!.raw.subarray(got!.raw.length - 200), Buffer.from(stored).subarray(stored.length - 200))).toBe(0);
  expect(isAscii(got!.raw)).toBe(false);
});

test("a 7-bit message goes without BODY= (nothing to declare)", async () => {
  const bench = await withMessage({}, "From: app@example.com\r\nTo: a@example.com\r\nSubject: ascii\r\n\r\nplain\r\n");
  expect(summary((await bench.run(["send-mail"])).stdout).sent).toBe(1);
  expect(bench.sink.received[0]!.mailParams.BODY).toBeUndefined();
});

const ASCII_TEXT = "From: app@example.com\r\nTo: x@example.com\r\nSubject: i18n\r\n\r\nhello\r\n";

test("a non-ASCII local part needs SMTPUTF8: refused with a clear reason where it is missing, sent with SMTPUTF8 where offered", async () => {
  const without = await withMessage({ hide: ["SMTPUTF8"] }, ASCII_TEXT, "jörg@example.com");
  const run = await without.run(["send-mail"]);
  expect(summary(run.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
  expect(without.sink.received).toHaveLength(0);
  expect((await without.logs())[0]!.log_message).toContain("does not offer SMTPUTF8");
  await without.cleanup();
  b = null;

  const offered = await withMessage({}, ASCII_TEXT, "jörg@example.com");
  expect(summary((await offered.run(["send-mail"])).stdout).sent).toBe(1);
  expect(offered.sink.received[0]!.to).toEqual(["jörg@example.com"]);
  expect(offered.sink.received[0]!.mailParams.SMTPUTF8).toBe(true);
});

test("a Unicode domain with an ASCII local part goes as punycode, even to a server without SMTPUTF8", async () => {
  const bench = await withMessage({ hide: ["SMTPUTF8"] }, ASCII_TEXT, "user@bücher.example");
  expect(summary((await bench.run(["send-mail"])).stdout).sent).toBe(1);
  expect(bench.sink.wire).toContain("RCPT TO:<user@xn--bcher-kva.example>");
  expect(bench.sink.received[0]!.mailParams.SMTPUTF8).toBeUndefined();
});

test("permanent_on_5xx makes an impossible message failed rather than deferred", async () => {
  const bench = await withMessage({ hide: ["8BITMIME"] }, `From: ${utf8("Jörg")} <app@example.com>\r\nTo: a@example.com\r\n\r\n${utf8("ä")}\r\n`);
  bench.configure({ retry: { permanent_on_5xx: true } });
  const run = await bench.run(["send-mail"]);
  expect(summary(run.stdout)).toEqual({ sent: 0, deferred: 0, failed: 1 });
  expect((await bench.logs())[0]!.log_message).toContain("From header holds non-ASCII bytes");
  expect(bench.sink.received).toHaveLength(0);
});
