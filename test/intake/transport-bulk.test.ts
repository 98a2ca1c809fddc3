// The nodemailer switch (createTransport(queueTransport(...)) + sendMail) and bulk enqueue, both databases.
import { afterEach, beforeEach, expect } from "bun:test";
import nodemailer from "nodemailer";
import { openQueue, queueTransport, SuppressedError, TempFailError, ConfigError, type Queue } from "../../src/index.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { createPgDatabase, refuseSubject } from "../helpers/db.ts";
import { parse, testQueue, type TestQueue } from "../helpers/intake.ts";

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

  it("createTransport(queueTransport(queue)) + sendMail() queues instead of sending, and says what it kept", async () => {
    await queue.addDontSend("gone@example.com");
    const transporter = nodemailer.createTransport(queueTransport(queue), { from: "Defaults <app@example.com>" });
    const info = await transporter.sendMail({
      to: "a@example.com, gone@example.com",
      bcc: "audit@example.com",
      subject: "Switched",
      text: "queued, not sent",
      priority: "high",
    });
    expect(info.accepted).toEqual(["a@example.com", "audit@example.com"]);
    expect(info.rejected).toEqual(["gone@example.com"]);
    expect(info.envelope).toEqual({ from: "app@example.com", to: ["a@example.com", "audit@example.com"] });
    const [row] = await tq.rows();
    expect(info.queueId).toBe(row!.id);
    expect(info.messageId).toBe(row!.messageId);
    expect(row!.priority).toBe(1);
    const mail = await parse(row!.raw);
    expect(mail.subject).toBe("Switched");
    expect(mail.from?.text).toBe('"Defaults" <app@example.com>');
    expect(mail.headers.has("bcc")).toBe(false);
  });

  it("the transport calls back with an error when every recipient is on the don't-send list", async () => {
    await queue.addDontSend("gone@example.com");
    const transporter = nodemailer.createTransport(queueTransport(queue));
    const attempt = transporter.sendMail({ from: "a@example.com", to: "gone@example.com", text: "x" });
    await expect(attempt).rejects.toBeInstanceOf(SuppressedError);
    expect(await tq.rows()).toHaveLength(0);
  });

  it("a transport built from options opens the queue itself and closes it with the transporter", async () => {
    const transport = queueTransport({ config: tq.config, priority: "low" });
    const transporter = nodemailer.createTransport(transport);
    await transporter.sendMail({ from: "a@example.com", to: "b@example.com", subject: "own queue", text: "x" });
    await transport.close();
    const [row] = await tq.rows();
    expect([row!.subject, row!.priority]).toEqual(["own queue", 3]);
  });

  /** Counts the explicit transactions the queue's database opens from here on. */
  async function countTransactions(): Promise<{ readonly count: number }> {
    const db = await queue.database();
    const begin = db.kysely.transaction.bind(db.kysely);
    const counter = { count: 0 };
    db.kysely.transaction = (() => {
      counter.count++;
      return begin();
    }) as typeof db.kysely.transaction;
    return counter;
  }

  const several = (n: number, subject = (i: number) => `one of ${n}: ${i}`) =>
    Array.from({ length: n }, (_, i) => ({ from: "a@example.com", to: `r${i}@example.com`, subject: subject(i), text: "x" }));

  it("enqueues 10,000 messages in one call, one transaction per enqueue_batch_size messages", async () => {
    const transactions = await countTransactions();
    const list = Array.from({ length: 10_000 }, (_, i) => ({
      from: "news@example.com",
      to: `reader${i}@example.com`,
      subject: `Issue ${i}`,
      text: `Hello reader ${i}`,
    }));
    const outcomes = await queue.enqueueMany(list, { priority: "low" });
    expect(transactions.count).toBe(Math.ceil(10_000 / queue.config.delivery.enqueue_batch_size));
    expect(outcomes).toHaveLength(10_000);
    const ids = outcomes.map((o) => o.id!);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    const rows = await tq.rows();
    expect(rows).toHaveLength(10_000);
    expect(rows[9_999]!.subject).toBe("Issue 9999");
    expect(rows[9_999]!.envelopeTo).toEqual(["reader9999@example.com"]);
    expect(rows.every((r) => r.priority === 3)).toBe(true);
  }, 120_000);

  it("a call whose messages fit one INSERT commits them without BEGIN and COMMIT; the don't-send list or a key brings the transaction back", async () => {
    const transactions = await countTransactions();
    expect((await queue.enqueueMany(several(3))).every((o) => o.id !== null)).toBe(true);
    expect(transactions.count).toBe(0);
    await queue.enqueueMany(several(2).map((m, i) => ({ ...m, idempotencyKey: `k${i}` })));
    expect(transactions.count).toBe(1);
    await queue.addDontSend("gone@example.com");
    const outcomes = await queue.enqueueMany([...several(2), { from: "a@example.com", to: "gone@example.com", text: "x" }]);
    expect(outcomes.map((o) => o.id === null)).toEqual([false, false, true]);
    expect(transactions.count).toBe(2);
    expect(await tq.rows()).toHaveLength(7);
  });

  it("without its transaction, a call of several messages is still all or none: a row the database refuses keeps every other row out", async () => {
    await refuseSubject(await queue.database(), dialect, "boom", "boom refused");
    const transactions = await countTransactions();
    await expect(queue.enqueueMany(several(5, (i) => (i === 3 ? "boom" : `kept ${i}`)))).rejects.toThrow(/boom refused/);
    expect(transactions.count).toBe(0);
    expect(await tq.rows()).toHaveLength(0);
  });

  it("a bad message in a bulk call fails the call, names its index, and queues nothing", async () => {
    const good = { from: "a@example.com", to: "b@example.com", text: "x" };
    const attempt = queue.enqueueMany([good, good, { ...good, to: "not-an-address" }]);
    await expect(attempt).rejects.toThrow(/^message 2: /);
    expect(await tq.rows()).toHaveLength(0);
  });

  it("batchSize from openQueue overrides delivery.enqueue_batch_size", async () => {
    const small = await openQueue({ config: tq.config, batchSize: 7 });
    try {
      const outcomes = await small.enqueueMany(Array.from({ length: 20 }, () => ({ raw: "From: a@example.com\r\nTo: b@example.com\r\n\r\nx\r\n" })));
      expect(small.batchSize).toBe(7);
      expect(outcomes.filter((o) => o.id !== null)).toHaveLength(20);
    } finally {
      await small.close();
    }
  });
});

forEachDialect((dialect, it) => {
  if (dialect !== "postgres") return;
  it("openQueue on an unmigrated PostgreSQL database is a ConfigError; migrate: true applies the schema", async () => {
    const pg = await createPgDatabase();
    try {
      await expect(openQueue({ url: pg.url })).rejects.toBeInstanceOf(ConfigError);
      const queue = await openQueue({ url: pg.url, migrate: true });
      expect((await queue.enqueue({ from: "a@example.com", to: "b@example.com", text: "x" })).id).toBe(1);
      await queue.close();
    } finally {
      await pg.drop();
    }
  });

  it("openQueue on an unreachable PostgreSQL server is a TempFailError", async () => {
    await expect(openQueue({ url: "postgres://postgres@127.0.0.1:1/nowhere" })).rejects.toBeInstanceOf(TempFailError);
  });
});
