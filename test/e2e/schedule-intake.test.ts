// Send-at, expires-at and idempotency keys on the enqueue paths: `mailer queue` flags, the X-Mailer-*
// headers through sendmail and smtpd, the library (Queue and the nodemailer transport), and 50
// processes queuing one key at once.
import { afterEach, describe, expect, test } from "bun:test";
import nodemailer from "nodemailer";
import { runMailer, spawnMailer } from "../helpers/cli.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { smtpConversation, startSmtpd, type SmtpdProcess } from "../helpers/smtpd-process.ts";
import { Queue } from "../../src/queue/queue.ts";
import { queueTransport } from "../../src/queue/transport.ts";
import { loadConfig } from "../../src/config/load.ts";
import { silentLogger } from "../../src/queue/open.ts";
import { parseWhen } from "../../src/queue/schedule.ts";
import { DataError } from "../../src/errors.ts";

let tq: TestQueue | null = null;
let smtpd: SmtpdProcess | null = null;
afterEach(async () => {
  if (smtpd) await smtpd.stop();
  smtpd = null;
  await tq?.cleanup();
  tq = null;
});

const TOML = `[queue]\ndefault_domain = "example.org"\naliases = ""\n`;

async function stored(q: TestQueue) {
  const db = await q.db();
  return db.kysely.selectFrom("mailer_message").select(["id", "subject", "next_attempt_at", "expires_at", "message_data"]).orderBy("id").execute();
}
const iso = (t: unknown) => (t === null ? null : new Date(t as string).toISOString());

describe("parseWhen", () => {
  const now = new Date("2026-12-04T12:00:00Z");
  test("takes ISO 8601 with a zone and delays from now; refuses a time without a zone and anything else", () => {
    expect(parseWhen("2026-12-24T18:00:00Z", "x", now).toISOString()).toBe("2026-12-24T18:00:00.000Z");
    expect(parseWhen("2026-12-24T18:00:00+01:00", "x", now).toISOString()).toBe("2026-12-24T17:00:00.000Z");
    expect(parseWhen("2026-12-24 18:00:00.250Z", "x", now).toISOString()).toBe("2026-12-24T18:00:00.250Z");
    expect(parseWhen("+10m", "x", now).toISOString()).toBe("2026-12-04T12:10:00.000Z");
    expect(parseWhen("+1h30m", "x", now).toISOString()).toBe("2026-12-04T13:30:00.000Z");
    expect(parseWhen("+2d", "x", now).toISOString()).toBe("2026-12-06T12:00:00.000Z");
    expect(() => parseWhen("2026-12-24T18:00", "send-at", now)).toThrow(/send-at: "2026-12-24T18:00" has no time zone/);
    for (const bad of ["tomorrow", "+10", "+10x", "2026-13-45T99:00:00Z", "", "-5m"]) expect(() => parseWhen(bad, "x", now)).toThrow(DataError);
  });
});

forEachDialect((dialect, it) => {
  it("mailer queue --send-at/--expires-at/--idempotency-key: stored in their columns; bad values exit 64/65 and queue nothing", async () => {
    tq = await testQueue(dialect, TOML);
    const q = tq;
    const queue = (...args: string[]) => runMailer(["queue", "--config", q.config, "--to", "a@example.com", "--subject", "s", "--text", "t", ...args]);
    const ok = await queue("--send-at", "2030-01-01T09:00:00+01:00", "--expires-at", "2030-01-02T00:00:00Z", "--idempotency-key", "k1");
    expect(ok.code).toBe(0);
    const id = Number(ok.stdout.trim());
    const again = await queue("--idempotency-key", "k1", "--subject", "different");
    expect(again.code).toBe(0);
    expect(Number(again.stdout.trim())).toBe(id);
    expect(again.stderr).toContain("not queued: its idempotency key was queued already");
    for (const [args, code, text] of [
      [["--send-at", "2030-01-01T09:00"], 64, "--send-at: \"2030-01-01T09:00\" has no time zone"],
      [["--send-at", "soon"], 64, "--send-at: expected ISO 8601"],
      [["--expires-at", "2001-01-01T00:00:00Z"], 65, "has passed already"],
      [["--send-at", "+2h", "--expires-at", "+1h"], 65, "is not after send-at"],
      [["--idempotency-key", ""], 64, "--idempotency-key: expected 1 to 200 printable characters"],
    ] as const) {
      const refused = await queue(...args);
      expect([refused.code, refused.stderr]).toEqual([code, expect.stringContaining(text)]);
    }
    const rows = await stored(q);
    expect(rows.map((r) => [r.subject, iso(r.next_attempt_at), iso(r.expires_at)])).toEqual([
      ["s", "2030-01-01T08:00:00.000Z", "2030-01-02T00:00:00.000Z"],
    ]);
  });

  it("sendmail: X-Mailer-Send-At/-Expires-At/-Idempotency-Key are read and removed; a bad one exits 65", async () => {
    tq = await testQueue(dialect, TOML);
    const q = tq;
    const mail = (extra: string) =>
      runMailer(["sendmail", "-t", "--config", q.config], {
        stdin: `From: app@example.org\nTo: a@example.com\nSubject: hdr\n${extra}\nbody\n`,
      });
    const first = await mail("X-Mailer-Send-At: 2030-05-01T10:00:00Z\nX-Mailer-Expires-At: 2030-05-02T10:00:00Z\nX-Mailer-Idempotency-Key: cron-42\n");
    expect(first.code).toBe(0);
    expect((await mail("X-Mailer-Idempotency-Key: cron-42\n")).code).toBe(0);
    const bad = await mail("X-Mailer-Send-At: next tuesday\n");
    expect(bad.code).toBe(65);
    expect(bad.stderr).toContain("X-Mailer-Send-At: expected ISO 8601");
    const rows = await stored(q);
    expect(rows).toHaveLength(1);
    expect([iso(rows[0]!.next_attempt_at), iso(rows[0]!.expires_at)]).toEqual(["2030-05-01T10:00:00.000Z", "2030-05-02T10:00:00.000Z"]);
    expect(Buffer.from(rows[0]!.message_data).toString()).not.toContain("X-Mailer-");
  });

  it("smtpd answers 250 'already queued as N' to a second message with the same key", async () => {
    tq = await testQueue(dialect, TOML);
    smtpd = await startSmtpd(tq.config);
    const replies: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await smtpConversation(smtpd.port);
      await c.command("EHLO client.test");
      await c.command("MAIL FROM:<app@example.org>");
      await c.command("RCPT TO:<a@example.com>");
      await c.command("DATA");
      replies.push(await c.command("From: app@example.org\r\nSubject: s\r\nX-Mailer-Idempotency-Key: smtp-1\r\n\r\nhi\r\n."));
      c.close();
    }
    const id = /queued as (\d+)/.exec(replies[0]!)?.[1];
    expect(replies[0]).toBe(`250 2.0.0 OK: queued as ${id}\r\n`);
    expect(replies[1]).toBe(`250 2.0.0 OK: already queued as ${id} (same idempotency key)\r\n`);
    expect(await stored(tq)).toHaveLength(1);
    // swaks, a real SMTP client, run as an unprivileged user, sends the same key a third time.
    const asNobody = process.getuid?.() === 0 ? ["runuser", "-u", "nobody", "--"] : [];
    const swaks = Bun.spawnSync([
      ...asNobody, "swaks", "--server", "127.0.0.1", "--port", String(smtpd.port), "--from", "app@example.org", "--to", "a@example.com",
      "--header", "X-Mailer-Idempotency-Key: smtp-1", "--header", "X-Mailer-Send-At: +1h", "--body", "hi",
    ]);
    expect(swaks.exitCode).toBe(0);
    expect(swaks.stdout.toString()).toContain(`<-  250 2.0.0 OK: already queued as ${id} (same idempotency key)`);
    expect(await stored(tq)).toHaveLength(1);
  });

  it("50 processes queuing one idempotency key at once queue exactly one message and all print its id", async () => {
    tq = await testQueue(dialect, TOML);
    const q = tq;
    const procs = Array.from({ length: 50 }, (_, i) =>
      spawnMailer(["queue", "--config", q.config, "--to", "a@example.com", "--subject", `try ${i}`, "--text", "t", "--idempotency-key", "order-7-receipt"]),
    );
    const results = await Promise.all(procs.map(async (p) => ({ code: await p.exited, out: (await new Response(p.stdout).text()).trim(), err: await new Response(p.stderr).text() })));
    expect(results.filter((r) => r.code !== 0).map((r) => r.err)).toEqual([]);
    const rows = await stored(q);
    expect(rows).toHaveLength(1);
    expect(new Set(results.map((r) => r.out))).toEqual(new Set([String(rows[0]!.id)]));
  }, 120_000);

  it("library: sendAt/expiresAt/idempotencyKey on Queue and on the nodemailer transport; a key outlives its message within the window", async () => {
    tq = await testQueue(dialect, TOML + `idempotency_window = "1s"\n`);
    const config = loadConfig({ path: tq.config, env: {} }).config;
    const queue = new Queue(config, silentLogger());
    try {
      const sendAt = new Date(Date.now() + 3_600_000);
      const a = await queue.enqueue({ from: "app@example.org", to: "a@example.com", subject: "a", text: "x" }, { sendAt, expiresAt: "+2h", idempotencyKey: "lib-1" });
      const b = await queue.enqueue({ raw: "From: app@example.org\r\nTo: a@example.com\r\nSubject: b\r\n\r\nx\r\n", idempotencyKey: "lib-1" });
      expect([b.id, b.duplicate]).toEqual([a.id, true]);
      // In one list: each message its own key; the second of a repeated key answers with the first's id.
      const list = await queue.enqueueMany([
        { from: "app@example.org", to: "a@example.com", subject: "c", text: "x", idempotencyKey: "lib-2" },
        { from: "app@example.org", to: "a@example.com", subject: "d", text: "x", idempotencyKey: "lib-2" },
      ]);
      expect(list[1]!.id).toBe(list[0]!.id);
      expect(list[1]!.duplicate).toBe(true);
      await expect(queue.enqueueMany([{ raw: "Subject: x\r\nTo: a@example.com\r\n\r\n" }, { raw: "Subject: y\r\nTo: a@example.com\r\n\r\n" }], { idempotencyKey: "k" })).rejects.toThrow(
        /one key names one message/,
      );
      const transport = nodemailer.createTransport(queueTransport(queue));
      const t1 = await transport.sendMail({ from: "app@example.org", to: "a@example.com", subject: "t", text: "x", idempotencyKey: "lib-3" } as never);
      const t2 = await transport.sendMail({ from: "app@example.org", to: "a@example.com", subject: "t", text: "x", idempotencyKey: "lib-3" } as never);
      expect([t1.duplicate, t2.duplicate, t2.queueId]).toEqual([false, true, t1.queueId]);
      expect(t2.response).toBe(`250 already queued as ${t1.queueId} (same idempotency key)`);
      const rows = await stored(tq);
      expect(rows.map((r) => r.subject)).toEqual(["a", "c", "t"]);
      expect(iso(rows[0]!.next_attempt_at)).toBe(sendAt.toISOString());

      // lib-2's message leaves the queue (sent); within the window the key still answers with it, after
      // the window a new message is queued. lib-1's message is still queued: its key holds, however old.
      const db = await tq.db();
      await db.kysely.deleteFrom("mailer_message").where("id", "=", list[0]!.id!).execute();
      const within = await queue.enqueue({ raw: "From: app@example.org\r\nTo: a@example.com\r\nSubject: e\r\n\r\nx\r\n", idempotencyKey: "lib-2" });
      expect([within.id, within.duplicate]).toEqual([list[0]!.id, true]);
      await Bun.sleep(1100);
      const after = await queue.enqueue({ raw: "From: app@example.org\r\nTo: a@example.com\r\nSubject: f\r\n\r\nx\r\n", idempotencyKey: "lib-2" });
      expect(after.duplicate).toBeUndefined();
      expect(after.id).not.toBe(list[0]!.id);
      const stillQueued = await queue.enqueue({ raw: "From: app@example.org\r\nTo: a@example.com\r\nSubject: g\r\n\r\nx\r\n", idempotencyKey: "lib-1" });
      expect([stillQueued.id, stillQueued.duplicate]).toEqual([a.id, true]);
    } finally {
      await queue.close();
    }
  });
});
