// The library API in-process on both databases: composing with nodemailer, raw messages, priorities,
// the don't-send list and header-injection refusal.
import { afterEach, beforeEach, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { DataError, PRIORITY, SuppressedError, openQueue, queueTransport, type Queue } from "../../src/index.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { addresses, parse, testQueue, type TestQueue } from "../helpers/intake.ts";

const PNG = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let queue: Queue;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect);
    queue = await openQueue({ config: tq.config });
  });
  afterEach(async () => {
    await queue?.close();
    await tq?.cleanup();
  });

  it("composes text + HTML, an attachment, an inline image and custom headers with nodemailer; Bcc only in the envelope", async () => {
    const attachment = join(tq.dir, "report.csv");
    writeFileSync(attachment, "a,b\n1,2\n");
    const outcome = await queue.enqueue({
      from: "App <app@example.com>",
      to: "Alice <alice@example.com>, bob@example.com",
      cc: "carol@example.com",
      bcc: "dave@example.com",
      replyTo: "help@example.com",
      subject: "Grüße – your report",
      text: "Plain text body",
      html: '<p>HTML body <img src="cid:logo@x"></p>',
      headers: { "X-Campaign": "spring" },
      attachments: [{ path: attachment }, { filename: "logo.png", content: PNG, cid: "logo@x" }],
    });
    expect(outcome.id).toBeGreaterThan(0);
    expect(outcome.recipients).toEqual(["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]);
    const [row] = await tq.rows();
    expect(row!.envelopeFrom).toBe("app@example.com");
    expect(row!.envelopeTo).toEqual(outcome.recipients);
    expect(row!.subject).toBe("Grüße – your report");
    expect(row!.priority).toBe(PRIORITY.medium);
    expect(row!.raw.toString("latin1")).not.toMatch(/^Bcc:/im);
    const mail = await parse(row!.raw);
    expect(mail.subject).toBe("Grüße – your report");
    expect(mail.text?.trim()).toBe("Plain text body");
    expect(mail.html).toContain("HTML body");
    expect(addresses(mail.to)).toEqual(["alice@example.com", "bob@example.com"]);
    expect(addresses(mail.cc)).toEqual(["carol@example.com"]);
    expect(mail.headers.get("x-campaign")).toBe("spring");
    expect(mail.messageId).toBe(row!.messageId);
    const files = Object.fromEntries(mail.attachments.map((a) => [a.filename, a]));
    expect(files["report.csv"]!.content.toString()).toBe("a,b\n1,2\n");
    expect(files["logo.png"]!.contentId).toBe("<logo@x>");
    expect(Buffer.compare(files["logo.png"]!.content, PNG)).toBe(0);
  });

  it("takes the priority from the call, then X-Mailer-Priority, then nodemailer's priority, then medium; the header is removed", async () => {
    const base = { from: "a@example.com", to: "b@example.com", text: "x" };
    const header = { "X-Mailer-Priority": "low" };
    const ids = [
      (await queue.enqueue({ ...base, headers: header, priority: "high" }, { priority: "high" })).id,
      (await queue.enqueue({ ...base, headers: header, priority: "high" })).id,
      (await queue.enqueue({ ...base, priority: "low" })).id,
      (await queue.enqueue(base)).id,
      (await queue.enqueue({ raw: "From: a@example.com\r\nTo: b@example.com\r\nX-Mailer-Priority: HIGH\r\n\r\nx\r\n" })).id,
    ];
    const rows = await tq.rows();
    expect(rows.map((r) => r.id)).toEqual(ids as number[]);
    expect(rows.map((r) => r.priority)).toEqual([1, 3, 3, 2, 1]);
    for (const row of rows) expect(row.raw.toString("latin1")).not.toMatch(/X-Mailer-Priority/i);
  });

  it("refuses an unknown X-Mailer-Priority value with a DataError and queues nothing", async () => {
    const attempt = queue.enqueue({ from: "a@example.com", to: "b@example.com", text: "x", headers: { "X-Mailer-Priority": "urgent" } });
    await expect(attempt).rejects.toThrow(/X-Mailer-Priority: expected high, medium or low, got "urgent"/);
    expect(await tq.rows()).toHaveLength(0);
  });

  it("queues a raw message with its envelope, or with recipients from To/Cc/Bcc (Bcc removed from the text)", async () => {
    const raw = "From: a@example.com\r\nTo: b@example.com\r\nBcc: hidden@example.com\r\nSubject: raw\r\n\r\nbody\r\n";
    const given = await queue.enqueue({ raw, envelope: { from: "bounce@example.com", to: ["x@example.com"] } });
    const fromHeaders = await queue.enqueue({ raw });
    expect(given.recipients).toEqual(["x@example.com"]);
    expect(given.envelopeFrom).toBe("bounce@example.com");
    expect(fromHeaders.recipients).toEqual(["b@example.com", "hidden@example.com"]);
    for (const row of await tq.rows()) expect(row.raw.toString("latin1")).not.toContain("hidden@example.com");
  });

  it("stores a non-UTF-8 (8-bit) body byte for byte", async () => {
    const head = Buffer.from("From: a@example.com\r\nTo: b@example.com\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    const body = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0x80, 0x0d, 0x0a]);
    await queue.enqueue({ raw: new Uint8Array(Buffer.concat([head, body])) });
    const [row] = await tq.rows();
    expect(row!.raw.subarray(row!.raw.length - body.length).equals(body)).toBe(true);
    expect((await parse(row!.raw)).text).toContain("café");
  });

  it("drops recipients on the don't-send list (any case) and tells the caller when none is left", async () => {
    await queue.addDontSend("Blocked <BLOCKED@example.com>");
    const partial = await queue.enqueue({ from: "a@example.com", to: "ok@example.com, Blocked@example.com", text: "x" });
    expect(partial.recipients).toEqual(["ok@example.com"]);
    expect(partial.suppressed).toEqual(["Blocked@example.com"]);
    const none = await queue.enqueue({ from: "a@example.com", to: "blocked@example.com", text: "x" });
    expect(none.id).toBeNull();
    expect(await tq.rows()).toHaveLength(1);
    const logs = await (await tq.db()).kysely.selectFrom("mailer_messagelog").selectAll().execute();
    expect(logs.map((l) => [l.result, l.envelope_to])).toEqual([["dont_send", "blocked@example.com"]]);
  });

  it("refuses CR/LF in a subject, an address, a header or an attachment filename (header injection)", async () => {
    const base = { from: "a@example.com", to: "b@example.com", text: "x" };
    const attempts = [
      { ...base, subject: "Hi\r\nBcc: victim@example.com" },
      { ...base, to: "b@example.com\nBcc: victim@example.com" },
      { ...base, headers: { "X-Note": "a\r\nBcc: victim@example.com" } },
      { ...base, attachments: [{ filename: "a.txt\r\nX-Evil: 1", content: "x" }] },
      { raw: "From: a@example.com\r\nTo: b@example.com\r\n\r\nx\r\n" as string, envelope: { to: "b@example.com\r\nRCPT TO:<v@example.com>" } },
    ];
    for (const mail of attempts) await expect(queue.enqueue(mail)).rejects.toBeInstanceOf(DataError);
    expect(await tq.rows()).toHaveLength(0);
  });

  it("refuses an address nodemailer would quietly rewrite or leave out of the envelope, through enqueue and through the transport", async () => {
    const base = { from: "a@example.com", text: "x" };
    const transporter = nodemailer.createTransport(queueTransport(queue));
    for (const [to, message] of [
      [["b@example.com", "root"], /to: "root" has no domain/],
      ["ann@@example.com", /not a valid email address/],
      ["b@example.com c@example.com", /separate addresses with commas/],
    ] as const) {
      await expect(queue.enqueue({ ...base, to: to as string | string[] })).rejects.toThrow(message);
      await expect(transporter.sendMail({ ...base, to: to as string | string[] })).rejects.toThrow(message);
    }
    expect(await tq.rows()).toHaveLength(0);
  });

  it("refuses a message over queue.max_size", async () => {
    const small = await openQueue({ config: { ...queue.config, queue: { ...queue.config.queue, max_size: 2000 } } });
    try {
      await expect(small.enqueue({ from: "a@example.com", to: "b@example.com", text: "x".repeat(5000) })).rejects.toThrow(/over the limit of 2000 bytes/);
    } finally {
      await small.close();
    }
    expect(await tq.rows()).toHaveLength(0);
  });

  it("SuppressedError carries the rejected recipients", () => {
    const error = new SuppressedError(["x@example.com"]);
    expect(error).toBeInstanceOf(DataError);
    expect(error.rejected).toEqual(["x@example.com"]);
  });
});
