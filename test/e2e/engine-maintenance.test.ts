// retry-deferred and purge-mail-log, driven through the binary on both databases.
import { afterEach, expect, test } from "bun:test";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

forEachDialect((dialect, it) => {
  for (const max of [0, 1, 2]) {
    it(`retry-deferred re-queues a message at most max_retries = ${max} times`, async () => {
      b = await bench(dialect, { delivery: { max_retries: max } });
      b.sink.onMessage = () => ({ code: 451 });
      await b.enqueue();
      expect(summary((await b.run(["send-mail"])).stdout).deferred).toBe(1);
      const counts: number[] = [];
      const logs: number[] = [];
      for (let round = 0; round < max + 2; round++) {
        const retried = await b.run(["retry-deferred"]);
        expect(retried.code).toBe(0);
        expect(retried.stdout).toBe(`${round < max ? 1 : 0} message(s) retried\n`);
        await b.run(["send-mail"]);
        const [row] = await b.messages();
        expect(row!.status).toBe("deferred");
        counts.push(row!.retry_count);
        logs.push((await b.logs()).length);
      }
      // 1 + max attempts in all, as django-mailer's MAILER_EMAIL_MAX_RETRIES.
      const expected = Array.from({ length: max + 2 }, (_, i) => Math.min(i + 1, max));
      expect(counts).toEqual(expected);
      expect(logs).toEqual(expected.map((c) => c + 1));
    });
  }

  it("retry-deferred without max_retries re-queues every deferred message, keeping its priority", async () => {
    b = await bench(dialect);
    b.sink.onMessage = () => ({ code: 451 });
    await b.enqueue({ priority: 1 });
    await b.enqueue({ priority: 3 });
    await b.enqueue({ priority: 2 });
    await b.run(["send-mail"]);
    const run = await b.run(["retry-deferred"]);
    expect(run.stdout).toBe("3 message(s) retried\n");
    const rows = await b.messages();
    expect(rows.map((r) => [r.status, r.priority, r.retry_count])).toEqual([
      ["queued", 1, 1],
      ["queued", 3, 1],
      ["queued", 2, 1],
    ]);
  });

  /** One row of each result attempted two days ago, and one of each attempted now. */
  async function seedLogs(bench: Bench) {
    const old = new Date(Date.now() - 2 * 86_400_000);
    const rows = [];
    for (const result of ["success", "failure", "dont_send"] as const) {
      for (const when of [old, new Date()]) {
        rows.push({
          queue_id: null, message_data: null, message_id: "<x@y>", subject: result, envelope_from: "a@b.c",
          envelope_to: "d@e.f", when_added: bench.db.dialect.toDb(old), priority: 2, retry_count: 0, result,
          log_message: "", when_attempted: bench.db.dialect.toDb(when),
        });
      }
    }
    // Straight INSERT: when_attempted is the database's clock in the product, chosen here.
    await bench.db.kysely.insertInto("mailer_messagelog").values(rows).execute();
  }

  const remaining = async () => (await b!.logs()).map((l) => l.result).sort();

  it("purge-mail-log DAYS deletes old success rows only by default", async () => {
    b = await bench(dialect);
    await seedLogs(b);
    const run = await b.run(["purge-mail-log", "1"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("1 log entries deleted\n");
    expect(await remaining()).toEqual(["dont_send", "dont_send", "failure", "failure", "success"]);
  });

  it("purge-mail-log -r failure deletes old failure rows only", async () => {
    b = await bench(dialect);
    await seedLogs(b);
    expect((await b.run(["purge-mail-log", "1", "-r", "failure"])).stdout).toBe("1 log entries deleted\n");
    expect(await remaining()).toEqual(["dont_send", "dont_send", "failure", "success", "success"]);
  });

  it("purge-mail-log -r all deletes every old row, and 0 days means everything until now", async () => {
    b = await bench(dialect);
    await seedLogs(b);
    expect((await b.run(["purge-mail-log", "1", "-r", "all"])).stdout).toBe("3 log entries deleted\n");
    expect(await remaining()).toEqual(["dont_send", "failure", "success"]);
    expect((await b.run(["purge-mail-log", "0", "--result", "all"])).stdout).toBe("3 log entries deleted\n");
    expect(await remaining()).toEqual([]);
  });
});

test("purge-mail-log refuses a DAYS that is not a whole number, and an unknown -r", async () => {
  b = await bench("sqlite");
  const bad = await b.run(["purge-mail-log", "soon"]);
  expect(bad.code).toBe(64);
  expect(bad.stderr).toContain("DAYS must be a whole number");
  const badResult = await b.run(["purge-mail-log", "7", "-r", "everything"]);
  expect(badResult.code).toBe(64);
  expect(badResult.stderr).toContain("-r must be");
});
