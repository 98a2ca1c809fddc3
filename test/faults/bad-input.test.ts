// Hostile messages on every intake path — `queue` (stdin and flags), `sendmail`, `smtpd` and the
// library API — must each end in a clear error (64/65, an SMTP 5xx, a DataError) or a correct
// message; never a crash, a hang or a corrupted queue. At the end, everything that was accepted is
// delivered exactly as stored. On the embedded SQLite and on MariaDB (whose text and byte handling
// differs most from the others: collations, packet sizes, a driver of its own).
import { Database as Sqlite } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { loadConfig } from "../../src/config/load.ts";
import { memoryLogger } from "../../src/log.ts";
import { Queue } from "../../src/queue/queue.ts";
import { runMailer } from "../helpers/cli.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";
import { smtpConversation, startSmtpd, type SmtpdProcess } from "../helpers/smtpd-process.ts";
import { seeded } from "./support.ts";
import { dialectAvailable, testFor } from "../helpers/dialects.ts";
import type { Dialect } from "../helpers/db.ts";

const enc = new TextEncoder();
const bytes = (...parts: Array<string | Uint8Array>) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))));
const HEAD = "From: app@example.com\r\nTo: rcpt@example.com\r\n";
const manyRecipients = Array.from({ length: 10_000 }, (_, i) => `r${i}@example.com`);
const random = seeded(4242);

interface Case {
  name: string;
  raw: Buffer;
  /** queued: a correct message is stored; refused: a clear error and nothing stored. */
  outcome: "queued" | "refused";
  to?: string[];
}

const CASES: Case[] = [
  { name: "header injection through a bare CR in a header value", raw: bytes(HEAD, "Subject: hi\rBcc: victim@evil.example\r\n\r\nbody\r\n"), outcome: "refused" },
  { name: "bare LF and bare CR line ends", raw: bytes("From: app@example.com\nTo: rcpt@example.com\nSubject: unix\n\nline one\rline two\n.\nafter a lone dot\n"), outcome: "queued" },
  { name: "a NUL byte in the body", raw: bytes(HEAD, "Subject: nul\r\n\r\nbefore\0after\r\n"), outcome: "refused" },
  { name: "a NUL byte in a header", raw: bytes(HEAD, "Subject: n\0l\r\n\r\nbody\r\n"), outcome: "refused" },
  { name: "invalid UTF-8 in header and body", raw: bytes(HEAD, "Subject: caf", new Uint8Array([0xc3, 0x28, 0xff]), "\r\n\r\n", new Uint8Array([0xfe, 0xed, 0x80, 0x0a]), "\r\n"), outcome: "queued" },
  {
    name: "broken MIME (no closing boundary, bad base64, bad charset)",
    raw: bytes(HEAD, 'Subject: mime\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=no-such\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--b1\r\nContent-Type: multipart/alternative; boundary=\r\n\r\n'),
    outcome: "queued",
  },
  { name: "a 50 MB body (over queue.max_size)", raw: bytes(HEAD, "Subject: big\r\n\r\n", "x".repeat(50 * 1024 * 1024)), outcome: "refused" },
  {
    name: "10,000 recipients",
    raw: bytes("From: app@example.com\r\nTo: ", manyRecipients.join(",\r\n "), "\r\nSubject: crowd\r\n\r\nhello all\r\n"),
    outcome: "queued",
    to: manyRecipients,
  },
  { name: "binary garbage", raw: Buffer.from(Array.from({ length: 4096 }, () => Math.floor(random() * 256)).filter((b) => b !== 0 && b !== 10)), outcome: "refused" },
  { name: "an empty message", raw: Buffer.alloc(0), outcome: "refused" },
  { name: "no recipients anywhere", raw: bytes("From: app@example.com\r\nSubject: nobody\r\n\r\nbody\r\n"), outcome: "refused" },
];

/** The database's own consistency check of the queue table: "ok" or what it found. */
async function integrityCheck(tq: TestQueue): Promise<string> {
  if (tq.url.startsWith("sqlite:")) {
    const db = new Sqlite(tq.url.slice("sqlite:".length), { readonly: true });
    const result = (db.query("pragma integrity_check").get() as { integrity_check: string }).integrity_check;
    db.close();
    return result;
  }
  const rows = await sql<{ Msg_type: string; Msg_text: string }>`check table mailer_message extended`.execute((await tq.db()).kysely);
  const problems = rows.rows.filter((r) => r.Msg_type !== "status" || r.Msg_text !== "OK");
  return problems.length === 0 ? "ok" : JSON.stringify(problems);
}

function hostileSuite(dialect: Dialect): void {
  let tq: TestQueue;
  let smtpd: SmtpdProcess;
  let sink: Sink;
  let queue: Queue;
  beforeAll(async () => {
    tq = await testQueue(dialect);
    smtpd = await startSmtpd(tq.config);
    sink = await startSink();
    queue = new Queue(loadConfig({ path: tq.config, env: {} }).config, memoryLogger());
  });
  afterAll(async () => {
    await queue?.close();
    await smtpd?.stop();
    await sink?.close();
    await tq?.cleanup();
  });

  const rowCount = async () => (await tq.rows()).length;

  /** A clear error from the binary: one `mailer:` line or more, an expected exit code, no stack trace. */
  function expectClearError(run: { code: number; stderr: string }, codes: number[]) {
    const clear = /^mailer: /m.test(run.stderr) && !run.stderr.includes("    at ");
    expect({ expectedCode: codes.includes(run.code), clear, stderr: run.stderr }).toEqual({ expectedCode: true, clear: true, stderr: run.stderr });
  }

  /** Sends `raw` through smtpd with the envelope; returns the final reply line (or the first refusal). */
  async function viaSmtp(raw: Buffer, to: string[]): Promise<string> {
    const smtp = await smtpConversation(smtpd.port);
    try {
      await smtp.command("EHLO hostile.test");
      const mail = await smtp.command("MAIL FROM:<app@example.com>");
      if (!mail.startsWith("250")) return mail;
      // Pipelined: every RCPT TO at once, then every reply.
      smtp.write(to.map((r) => `RCPT TO:<${r}>\r\n`).join(""));
      for (let i = 0; i < to.length; i++) {
        const reply = await smtp.reply();
        if (!reply.startsWith("250")) return reply;
      }
      const data = await smtp.command("DATA");
      if (!data.startsWith("354")) return data;
      // Dot-stuffing, as any SMTP client does; line ends left as they are.
      const text = raw.toString("latin1").replace(/(^|\r\n)\./g, "$1..");
      smtp.write(Buffer.from(text + (text.endsWith("\r\n") ? "" : "\r\n") + ".\r\n", "latin1"));
      return await smtp.reply();
    } finally {
      smtp.close();
    }
  }

  const PATHS: Record<string, (c: Case) => Promise<{ ok: boolean; detail: string }>> = {
    async "queue (stdin)"(c) {
      const run = await runMailer(["queue", "--config", tq.config], { stdin: c.raw });
      if (run.code !== 0) expectClearError(run, [65]);
      return { ok: run.code === 0, detail: run.stderr };
    },
    async "sendmail -t -i"(c) {
      const run = await runMailer(["sendmail", "--config", tq.config, "-t", "-i"], { stdin: c.raw });
      if (run.code !== 0) expectClearError(run, [65]);
      return { ok: run.code === 0, detail: run.stderr };
    },
    async smtpd(c) {
      const reply = await viaSmtp(c.raw, c.to ?? ["rcpt@example.com"]);
      if (!reply.startsWith("250")) expect(reply).toMatch(/^5\d\d /);
      return { ok: reply.startsWith("250"), detail: reply };
    },
    async library(c) {
      try {
        await queue.enqueue({ raw: new Uint8Array(c.raw) });
        return { ok: true, detail: "" };
      } catch (error) {
        expect((error as Error).name).toMatch(/DataError|SuppressedError|TooLargeError/);
        return { ok: false, detail: (error as Error).message };
      }
    },
  };

  describe("hostile messages", () => {
    for (const [path, send] of Object.entries(PATHS)) {
      for (const c of CASES) {
        // smtpd takes the envelope from the SMTP session, so "no recipients" does not arise there.
        if (path === "smtpd" && c.name === "no recipients anywhere") continue;
        test(`${path}: ${c.name} -> ${c.outcome === "queued" ? "a correct message" : "a clear error, nothing queued"}`, async () => {
          const before = await rowCount();
          const result = await send(c);
          expect({ ok: result.ok, detail: result.ok === (c.outcome === "queued") ? "" : result.detail }).toEqual({
            ok: c.outcome === "queued",
            detail: "",
          });
          expect(await rowCount()).toBe(before + (c.outcome === "queued" ? 1 : 0));
        }, 60_000);
      }
    }
  });

  describe("header injection through fields", () => {
    const inject = "hi\r\nBcc: victim@evil.example";
    const flagCases: Array<[string, string[]]> = [
      ["--subject", ["--subject", inject]],
      ["--header value", ["--header", `X-Test: ${inject}`]],
      ["--to", ["--to", "a@example.com\r\nBcc: victim@evil.example"]],
      ["--from", ["--from", "app@example.com\nBcc: victim@evil.example"]],
      ["--reply-to", ["--reply-to", "x@example.com\rBcc: victim@evil.example"]],
    ];
    for (const [what, args] of flagCases) {
      test(`queue ${what} with a line break -> 65, nothing queued`, async () => {
        const before = await rowCount();
        const run = await runMailer(["queue", "--config", tq.config, "--from", "app@example.com", "--to", "b@example.com", "--text", "t", ...args]);
        expectClearError(run, [65]);
        expect(await rowCount()).toBe(before);
      });
    }
    test("sendmail -f / -F with a line break -> 64 or 65, nothing queued", async () => {
      const before = await rowCount();
      for (const flag of [["-f", "a@example.com\r\nX: y"], ["-F", "Name\r\nBcc: victim@evil.example"]]) {
        expectClearError(await runMailer(["sendmail", "--config", tq.config, ...flag, "b@example.com"], { stdin: "Subject: x\r\n\r\nbody\r\n" }), [64, 65]);
      }
      expect(await rowCount()).toBe(before);
    });
    test("the library API refuses CR, LF or NUL in any header-bound field", async () => {
      for (const mail of [
        { from: "app@example.com", to: "b@example.com", subject: inject, text: "t" },
        { from: "app@example.com", to: "b@example.com", subject: "ok", headers: { "X-A": "a\0b" }, text: "t" },
        { from: "app@example.com", to: "b@example.com\nc@example.com", subject: "ok", text: "t" },
      ]) {
        await expect(queue.enqueue(mail)).rejects.toThrow(/line break or NUL/);
      }
    });
    test("smtpd refuses a NUL or a line break smuggled into an address", async () => {
      const smtp = await smtpConversation(smtpd.port);
      await smtp.command("EHLO hostile.test");
      expect(await smtp.command("MAIL FROM:<app\0@example.com>")).toMatch(/^5\d\d /);
      expect(await smtp.command("MAIL FROM:<app@example.com>")).toMatch(/^250 /);
      expect(await smtp.command("RCPT TO:<a\rb@example.com>")).toMatch(/^5\d\d /);
      smtp.close();
    });
  });

  describe("the queue afterwards", () => {
    test("is intact and consistent: integrity check, well-formed rows, status works", async () => {
      const rows = await tq.rows();
      expect(rows.length).toBeGreaterThan(0);
      expect(await integrityCheck(tq)).toBe("ok");
      for (const row of rows) {
        const text = row.raw.toString("latin1");
        // A correct message: CRLF line ends only, no NUL, a header block of Name: value lines.
        expect({ id: row.id, bareCrOrLf: /\r(?!\n)|(?<!\r)\n/.test(text), nul: text.includes("\0") }).toEqual({ id: row.id, bareCrOrLf: false, nul: false });
        const head = text.slice(0, text.indexOf("\r\n\r\n") === -1 ? text.length : text.indexOf("\r\n\r\n"));
        for (const line of head.split("\r\n")) expect(line).toMatch(/^([!-9;-~]+:|[ \t])/);
        expect(row.envelopeTo.length).toBeGreaterThan(0);
      }
      const status = await runMailer(["status", "--json", "--config", tq.config]);
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout).queued).toBe(rows.length);
    });

    test("delivers every accepted message exactly as stored, to every recipient", async () => {
      const rows = await tq.rows();
      const config = `${tq.config}.send.toml`;
      await Bun.write(config, (await Bun.file(tq.config).text()) + `[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n[lock]\nuse_file_lock = false\n`);
      const run = await runMailer(["send-mail", "--config", config], { timeoutMs: 120_000 });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^${rows.length} sent, 0 deferred, 0 failed`));
      expect(sink.received).toHaveLength(rows.length);
      for (const row of rows) {
        const got = sink.received.find((m) => m.messageId === row.messageId)!;
        expect({ id: row.id, same: got.raw.equals(row.raw) }).toEqual({ id: row.id, same: true });
        expect(got.to.length).toBe(row.envelopeTo.length);
      }
    }, 180_000);
  });
}

for (const dialect of ["sqlite", "mariadb"] as const) {
  if (dialectAvailable(dialect)) describe(dialect, () => hostileSuite(dialect));
  // A MariaDB that does not answer: skipped and counted (test/preload.ts fails the run under CI).
  else testFor(dialect)("hostile messages", () => {});
}
