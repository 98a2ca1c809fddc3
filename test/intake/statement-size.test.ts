// MariaDB carries a statement's parameters in one packet, at most max_allowed_packet (16 MiB by
// default). A bulk enqueue of large messages, and a batch record that keeps message texts in the log,
// must split their INSERTs to fit; a single message over it is refused with a clear error and
// nothing queued.
import { afterEach, expect } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { memoryLogger } from "../../src/log.ts";
import { Queue } from "../../src/queue/queue.ts";
import { runMailer } from "../helpers/cli.ts";
import { testFor } from "../helpers/dialects.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { refuseSubject } from "../helpers/db.ts";
import { startSink } from "../helpers/smtp-sink.ts";

const it = testFor("mariadb");
let tq: TestQueue | null = null;
afterEach(async () => {
  await tq?.cleanup();
  tq = null;
});

const MiB = 1024 * 1024;
const message = (n: number, bytes: number) =>
  `From: app@example.com\r\nTo: rcpt@example.com\r\nSubject: big ${n}\r\nMessage-ID: <big-${n}@example.com>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n` +
  `${"x".repeat(76)}\r\n`.repeat(Math.ceil(bytes / 78));

it("40 messages of 1 MiB in one bulk enqueue are queued, and sent with their texts kept in the log", async () => {
  tq = await testQueue("mariadb", "[delivery]\nlog_message_data = true\n[lock]\nuse_file_lock = false\n");
  const db = await tq.db();
  expect(db.statementBytes).toBeLessThan(40 * MiB);
  const queue = new Queue(loadConfig({ path: tq.config, env: {} }).config, memoryLogger());
  try {
    const outcomes = await queue.enqueueMany(Array.from({ length: 40 }, (_, n) => ({ raw: new TextEncoder().encode(message(n, MiB)) })));
    expect(outcomes.every((o) => o.id !== undefined)).toBe(true);
  } finally {
    await queue.close();
  }
  const rows = await tq.rows();
  expect(rows.map((r) => r.subject)).toEqual(Array.from({ length: 40 }, (_, n) => `big ${n}`));
  expect(rows.every((r, n) => r.raw.equals(Buffer.from(message(n, MiB))))).toBe(true);

  const sink = await startSink();
  try {
    const config = `${tq.config}.send.toml`;
    await Bun.write(config, (await Bun.file(tq.config).text()) + `[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n`);
    const run = await runMailer(["send-mail", "--config", config], { timeoutMs: 120_000 });
    expect(run.stdout).toMatch(/^40 sent, 0 deferred, 0 failed/);
  } finally {
    await sink.close();
  }
  const logs = await db.kysely.selectFrom("mailer_messagelog").select(["result", "message_data"]).execute();
  expect(logs.filter((l) => l.result === "success" && l.message_data !== null && l.message_data.length > MiB)).toHaveLength(40);
}, 120_000);

it("one message larger than max_allowed_packet: exit 65 saying so, nothing queued", async () => {
  tq = await testQueue("mariadb");
  const run = await runMailer(["queue", "--config", tq.config], { stdin: Buffer.from(message(0, 20 * MiB)) });
  expect(run.code).toBe(65);
  expect(run.stderr).toContain("raise max_allowed_packet on the server, or lower queue.max_size below it");
  expect(run.stderr).not.toContain("    at ");
  expect(await tq.rows()).toEqual([]);
}, 60_000);

// A call of a few messages is queued without BEGIN and COMMIT when it is one INSERT (enqueue.ts); here
// its texts need two statements, and the second failing must keep the first's rows out too.
it("a bulk enqueue split into two statements is still all or none when the second fails", async () => {
  tq = await testQueue("mariadb");
  const db = await tq.db();
  const each = Math.ceil(db.statementBytes! / 3);
  await refuseSubject(db, "mariadb", "big 2", "big 2 refused");
  const queue = new Queue(loadConfig({ path: tq.config, env: {} }).config, memoryLogger());
  try {
    const attempt = queue.enqueueMany(Array.from({ length: 3 }, (_, n) => ({ raw: new TextEncoder().encode(message(n, each)) })));
    await expect(attempt).rejects.toThrow(/big 2 refused/);
  } finally {
    await queue.close();
  }
  expect(await tq.rows()).toEqual([]);
}, 60_000);
