// `mailer smtpd` through the compiled binary, with Python's smtplib, nodemailer and a raw SMTP client.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import nodemailer from "nodemailer";
import { runMailer, writeConfig } from "../helpers/cli.ts";
import { forEachDialect, pgAvailable, testFor , dialectAvailable } from "../helpers/dialects.ts";
import { parse, testQueue, type TestQueue } from "../helpers/intake.ts";
import { pythonSend, smtpConversation, startSmtpd, type SmtpdProcess } from "../helpers/smtpd-process.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";

const MESSAGE = "From: App <app@example.com>\r\nTo: a@example.com\r\nSubject: via smtp\r\n\r\nHello over SMTP\r\n";

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let smtpd: SmtpdProcess | null = null;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect, "[queue]\nmax_size = 50000\n");
  });
  afterEach(async () => {
    if (smtpd) expect(await smtpd.stop()).toBe(0);
    smtpd = null;
    await tq?.cleanup();
  });

  it("queues what Python's smtplib sends, with its envelope; advertises SIZE; no AUTH offered by default", async () => {
    smtpd = await startSmtpd(tq.config);
    const result = await pythonSend(smtpd.port, { from: "bounce@example.com", to: ["a@example.com", "hidden@example.com"], message: MESSAGE });
    expect(result).toMatchObject({ ok: true, size: "50000", auth: null, refused: {} });
    const [row] = await tq.rows();
    expect(row!.envelopeFrom).toBe("bounce@example.com");
    expect(row!.envelopeTo).toEqual(["a@example.com", "hidden@example.com"]);
    expect((await parse(row!.raw)).text?.trim()).toBe("Hello over SMTP");
    // The trace: the client's HELO and address, this host, the protocol (RFC 5321 §4.4).
    expect(row!.raw.toString()).toMatch(/^Received: from \S+ \(\[127\.0\.0\.1\]\) by \S+ \(mailer\) with ESMTP; \w{3}, \d\d \w{3} \d{4} /);
  });

  it("queues what nodemailer sends (attachment, priority header removed) and replies with the queue id", async () => {
    smtpd = await startSmtpd(tq.config);
    const client = nodemailer.createTransport({ host: "127.0.0.1", port: smtpd.port, secure: false, ignoreTLS: true });
    const info = await client.sendMail({
      from: "a@example.com", to: "b@example.com", subject: "nm", text: "body",
      headers: { "X-Mailer-Priority": "high" }, attachments: [{ filename: "a.txt", content: "attached" }],
    });
    client.close();
    const [row] = await tq.rows();
    expect(info.response).toBe(`250 2.0.0 OK: queued as ${row!.id}`);
    expect(row!.priority).toBe(1);
    const mail = await parse(row!.raw);
    expect(mail.headers.has("x-mailer-priority")).toBe(false);
    expect(mail.attachments[0]!.content.toString()).toBe("attached");
  });

  it("replies 501/553 to a bad address, 550 to a don't-send recipient, 554 to an unparseable message, 552 over max_size", async () => {
    await (await tq.db()).kysely.insertInto("mailer_dontsendentry").values({ to_address: "gone@example.com" }).execute();
    smtpd = await startSmtpd(tq.config);
    const smtp = await smtpConversation(smtpd.port);
    expect(await smtp.command("EHLO test")).toMatch(/\r\n250[- ]SIZE 50000\r\n/);
    expect(await smtp.command("MAIL FROM:<not-an-address>")).toMatch(/^501 /); // smtp-server's own syntax check
    expect(await smtp.command("MAIL FROM:<a@[127.0.0.1]>")).toMatch(/^553 5\.1\.7 /); // ours: no address literals
    expect(await smtp.command("MAIL FROM:<a@example.com> SIZE=60000")).toMatch(/^552 /);
    expect(await smtp.command("MAIL FROM:<a@example.com>")).toMatch(/^250 /);
    expect(await smtp.command("RCPT TO:<Gone@Example.com>")).toMatch(/^550 5\.7\.1 .*don't-send/);
    expect(await smtp.command("RCPT TO:<b@example.com>")).toMatch(/^250 /);
    expect(await smtp.command("DATA")).toMatch(/^354 /);
    expect(await smtp.command("this is not a header\r\n\r\nbody\r\n.")).toMatch(/^554 5\.6\.0 not an RFC 5322 message/);
    await smtp.command("MAIL FROM:<a@example.com>");
    await smtp.command("RCPT TO:<b@example.com>");
    await smtp.command("DATA");
    expect(await smtp.command(`${MESSAGE}nul \0 byte\r\n.`)).toMatch(/^554 5\.6\.0 .*NUL/);
    await smtp.command("MAIL FROM:<a@example.com>");
    await smtp.command("RCPT TO:<b@example.com>");
    await smtp.command("DATA");
    expect(await smtp.command(`${MESSAGE}${"x".repeat(60000)}\r\n.`)).toMatch(/^552 /);
    expect(await smtp.command("QUIT")).toMatch(/^221 /);
    smtp.close();
    expect(await tq.rows()).toHaveLength(0);
  });

  it("a running smtpd sees the don't-send list as it is now: listed, unlisted and listed again mid-transaction", async () => {
    smtpd = await startSmtpd(tq.config);
    const kysely = (await tq.db()).kysely;
    const smtp = await smtpConversation(smtpd.port);
    await smtp.command("EHLO test");
    // Asked once while the list is empty (what smtpd remembers), then listed from another process.
    await smtp.command("MAIL FROM:<a@example.com>");
    expect(await smtp.command("RCPT TO:<later@example.com>")).toMatch(/^250 /);
    await smtp.command("RSET");
    await kysely.insertInto("mailer_dontsendentry").values({ to_address: "later@example.com" }).execute();
    await smtp.command("MAIL FROM:<a@example.com>");
    expect(await smtp.command("RCPT TO:<later@example.com>")).toMatch(/^550 5\.7\.1 .*don't-send/);
    await smtp.command("RSET");
    await kysely.deleteFrom("mailer_dontsendentry").execute();
    await smtp.command("MAIL FROM:<a@example.com>");
    expect(await smtp.command("RCPT TO:<later@example.com>")).toMatch(/^250 /);
    // Listed between RCPT TO and the end of DATA: not queued, refused at the end of DATA.
    await kysely.insertInto("mailer_dontsendentry").values({ to_address: "later@example.com" }).execute();
    expect(await smtp.command("DATA")).toMatch(/^354 /);
    expect(await smtp.command(`${MESSAGE}.`)).toMatch(/^550 5\.7\.1 /);
    expect(await smtp.command("QUIT")).toMatch(/^221 /);
    smtp.close();
    expect(await tq.rows()).toHaveLength(0);
  });

  it("with smtpd.user set, requires AUTH: 530 without it, 535 for a wrong password, queued with the right one", async () => {
    await tq.cleanup();
    tq = await testQueue(dialect, '[smtpd]\nuser = "app"\npassword_env = "TEST_SMTPD_PASSWORD"\n');
    process.env.TEST_SMTPD_PASSWORD = "s3cret";
    smtpd = await startSmtpd(tq.config);
    const anonymous = await pythonSend(smtpd.port, { from: "a@example.com", to: ["b@example.com"], message: MESSAGE });
    expect(anonymous).toMatchObject({ ok: false, code: 530 });
    const wrong = await pythonSend(smtpd.port, { from: "a@example.com", to: ["b@example.com"], message: MESSAGE, login: ["app", "nope"] });
    expect(wrong).toMatchObject({ ok: false, code: 535 });
    const right = await pythonSend(smtpd.port, { from: "a@example.com", to: ["b@example.com"], message: MESSAGE, login: ["app", "s3cret"] });
    expect(right).toMatchObject({ ok: true, auth: expect.stringContaining("PLAIN") });
    expect(await tq.rows()).toHaveLength(1);
    delete process.env.TEST_SMTPD_PASSWORD;
  });

  it("on SIGTERM finishes the message in flight, refuses new sessions, and exits 0", async () => {
    smtpd = await startSmtpd(tq.config);
    const smtp = await smtpConversation(smtpd.port);
    await smtp.command("EHLO test");
    await smtp.command("MAIL FROM:<a@example.com>");
    await smtp.command("RCPT TO:<b@example.com>");
    expect(await smtp.command("DATA")).toMatch(/^354 /);
    smtp.write(MESSAGE.slice(0, 30));
    smtpd.proc.kill("SIGTERM");
    await smtpd.waitForLog(/smtpd stopping/);
    const late = await smtpConversation(smtpd.port).catch((e: Error) => e);
    expect(late instanceof Error || late.greeting.startsWith("421")).toBe(true);
    expect(await smtp.command(MESSAGE.slice(30) + ".")).toMatch(/^250 2\.0\.0 OK: queued as \d+/);
    expect(await smtpd.proc.exited).toBe(0);
    smtpd = null;
    expect(await tq.rows()).toHaveLength(1);
  });
});

describe("smtpd", () => {
  let tq: TestQueue;
  beforeEach(async () => (tq = await testQueue("sqlite")));
  afterEach(async () => tq.cleanup());

  test("refuses a non-loopback listen address without AUTH or allow_from (78) unless --force", async () => {
    const refused = await runMailer(["smtpd", "--config", tq.config, "--listen", "0.0.0.0:0"]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain("refusing to listen on 0.0.0.0:0");
    const forced = await startSmtpd(tq.config, ["--listen", "0.0.0.0:0", "--force"]);
    expect(await forced.stop()).toBe(0);
  });

  test("allow_from refuses a client outside the list with 554", async () => {
    await tq.cleanup();
    tq = await testQueue("sqlite", '[smtpd]\nallow_from = ["10.0.0.0/8"]\n');
    const smtpd = await startSmtpd(tq.config);
    const smtp = await smtpConversation(smtpd.port);
    expect(smtp.greeting).toMatch(/^554 5\.7\.1 /);
    smtp.close();
    expect(await smtpd.stop()).toBe(0);
  });
});

describe("smtpd with the database unavailable", () => {
  testFor("postgres")("PostgreSQL going away: 451 so the client retries, then queued again once it is back", async () => {
    const tq = await testQueue("postgres");
    const target = new URL(tq.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const proxied = new URL(tq.url);
    proxied.port = String(proxy.port);
    const config = writeConfig(tq.dir, `[database]\nurl = "${proxied}"\n`, "proxied.toml");
    const smtpd = await startSmtpd(config);
    try {
      const send = () => pythonSend(smtpd.port, { from: "a@example.com", to: ["b@example.com"], message: MESSAGE });
      expect(await send()).toMatchObject({ ok: true });
      proxy.down();
      expect(await send()).toMatchObject({ ok: false, code: 451 });
      proxy.up();
      expect(await send()).toMatchObject({ ok: true });
      expect(await tq.rows()).toHaveLength(2);
    } finally {
      expect(await smtpd.stop()).toBe(0);
      await proxy.close();
      await tq.cleanup();
    }
  });

  test("PostgreSQL unreachable at start: smtpd still listens and replies 451", async () => {
    const tq = await testQueue("sqlite");
    const config = writeConfig(tq.dir, `[database]\nurl = "postgres://postgres@127.0.0.1:1/mailer"\n`, "down.toml");
    const smtpd = await startSmtpd(config);
    try {
      expect(smtpd.lines.join("\n")).toContain("database unavailable");
      const result = await pythonSend(smtpd.port, { from: "a@example.com", to: ["b@example.com"], message: MESSAGE });
      expect(result).toMatchObject({ ok: false, code: 451 });
    } finally {
      expect(await smtpd.stop()).toBe(0);
      await tq.cleanup();
    }
  });

  test("SQLite locked by another writer past busy_timeout: 451, then queued once the lock is gone", async () => {
    const tq = await testQueue("sqlite", "busy_timeout = 200\n");
    const smtpd = await startSmtpd(tq.config);
    const { Database } = await import("bun:sqlite");
    const holder = new Database(tq.url.slice("sqlite:".length));
    try {
      const send = () => pythonSend(smtpd.port, { from: "a@example.com", to: ["b@example.com"], message: MESSAGE });
      holder.run("begin exclusive");
      expect(await send()).toMatchObject({ ok: false, code: 451 });
      holder.run("rollback");
      expect(await send()).toMatchObject({ ok: true });
    } finally {
      holder.close();
      expect(await smtpd.stop()).toBe(0);
      await tq.cleanup();
    }
  });
});
