// [retry] auto through the compiled binary: a deferred message gets its own next attempt time, a
// pass picks it up once due (not before), waits double up to max_backoff, and a message past
// max_lifetime or max_retries becomes failed. Time passing is simulated by moving next_attempt_at
// and when_added in the database, so nothing here waits for a backoff.
import { afterEach, describe, expect, test } from "bun:test";
import { fromDbTime } from "../../src/db/dialect.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { finalState, statusJson } from "./support.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

/** Makes every deferred message due now, as if its backoff had passed. */
async function timePasses(bench: Bench): Promise<void> {
  await bench.db.kysely
    .updateTable("mailer_message")
    .set({ next_attempt_at: bench.db.dialect.toDb(new Date(Date.now() - 1000)) })
    .where("status", "=", "deferred")
    .where("next_attempt_at", "is not", null)
    .execute();
}

const nextAttempt = async (bench: Bench) => fromDbTime((await bench.messages())[0]!.next_attempt_at as never);

forEachDialect((dialect, it) => {
  it("a deferred message is due again after min_backoff (+/- jitter), not before, then sent", async () => {
    b = await bench(dialect, { retry: { auto: true, min_backoff: "10m", jitter: 0.2 } });
    b.sink.onMessage = () => ({ code: 451, message: "greylisted" });
    await b.enqueue({ subject: "greylisted" });
    const before = Date.now();
    expect(summary((await b.run(["send-mail"])).stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
    const after = Date.now();
    const due = (await nextAttempt(b))!.getTime();
    expect(due).toBeGreaterThanOrEqual(before + 0.8 * 600_000);
    expect(due).toBeLessThanOrEqual(after + 1.2 * 600_000);

    // Monitoring: deferred, not queued (a pass would not send it now), and when it is due.
    const status = await statusJson(b);
    expect([status.queued, status.deferred, status.next_retry_at]).toEqual([0, 1, new Date(due).toISOString()]);

    b.sink.onMessage = () => undefined;
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(0);
    await timePasses(b);
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout).sent).toBe(1);
    expect(run.stderr).toContain("1 deferred message(s) due again re-queued");
    const logs = await b.logs();
    expect(logs.map((l) => [l.result, l.retry_count])).toEqual([["failure", 0], ["success", 1]]);
  });

  it("each retry doubles the wait, up to max_backoff", async () => {
    b = await bench(dialect, { retry: { auto: true, min_backoff: "1m", max_backoff: "3m", jitter: 0 } });
    b.sink.onMessage = () => ({ code: 421, message: "busy" });
    await b.enqueue();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      await b.run(["send-mail"]);
      waits.push(Math.round(((await nextAttempt(b))!.getTime() - started) / 60_000));
      await timePasses(b);
    }
    expect(waits).toEqual([1, 2, 3, 3]);
    expect((await b.messages())[0]!.retry_count).toBe(3);
  });

  it("a message deferred past max_lifetime becomes failed, with the reason in its log row", async () => {
    b = await bench(dialect, { retry: { auto: true, max_lifetime: "5d" } });
    b.sink.onMessage = () => ({ code: 451, message: "still greylisted" });
    await b.enqueue({ subject: "old" });
    await b.db.kysely.updateTable("mailer_message").set({ when_added: b.db.dialect.toDb(new Date(Date.now() - 6 * 86_400_000)) }).execute();
    expect(summary((await b.run(["send-mail"])).stdout)).toEqual({ sent: 0, deferred: 0, failed: 1 });
    const { failed, logs } = await finalState(b);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.next_attempt_at).toBeNull();
    expect(logs.at(-1)!.log_message).toMatch(/451 still greylisted.*given up: queued longer than retry\.max_lifetime \(5d\)/);
    expect((await b.run(["retry-deferred"])).stdout).toBe("0 message(s) retried\n");
    expect((await statusJson(b)).failed).toBe(1);
  });

  it("delivery.max_retries bounds automatic retries: 1 + max_retries attempts, then failed", async () => {
    b = await bench(dialect, { delivery: { max_retries: 2 }, retry: { auto: true } });
    b.sink.onMessage = () => ({ code: 451 });
    await b.enqueue();
    const outcomes: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      outcomes.push(summary((await b.run(["send-mail"])).stdout));
      await timePasses(b);
    }
    expect(outcomes).toEqual([
      { sent: 0, deferred: 1, failed: 0 },
      { sent: 0, deferred: 1, failed: 0 },
      { sent: 0, deferred: 0, failed: 1 },
      { sent: 0, deferred: 0, failed: 0 },
    ]);
    expect((await b.logs()).at(-1)!.log_message).toContain("given up after 2 retries (delivery.max_retries = 2)");
  });

  it("without auto a deferral gets no next attempt time and waits for retry-deferred, as before", async () => {
    b = await bench(dialect);
    b.sink.onMessage = () => ({ code: 451 });
    await b.enqueue();
    await b.run(["send-mail"]);
    const [row] = await b.messages();
    expect([row!.status, row!.next_attempt_at]).toEqual(["deferred", null]);
    b.sink.onMessage = () => undefined;
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(0);
    await b.run(["retry-deferred"]);
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(1);
  });

  it("runmailer retries a deferred message by itself once it is due", async () => {
    b = await bench(dialect, { delivery: { empty_queue_sleep: 0.2 }, retry: { auto: true, min_backoff: "1s", jitter: 0 } });
    let refusals = 0;
    b.sink.onMessage = () => (refusals++ === 0 ? { code: 451, message: "greylisted" } : undefined);
    await b.enqueue({ subject: "greylisted once" });
    const { proc, stderr } = b.start(["runmailer"]);
    await b.sink.waitFor(1);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    await stderr.done;
    expect(stderr.lines.some((l) => l.includes("due again re-queued"))).toBe(true);
    expect(b.sink.received.map((m) => m.subject)).toEqual(["greylisted once"]);
    expect(await b.messages()).toHaveLength(0);
  });
});

describe("retry-failed", () => {
  test("re-queues failed messages by id, by Message-ID or --all; says which named ones are not failed; usage errors are 64", async () => {
    b = await bench("sqlite", { retry: { permanent_on_5xx: true } });
    b.sink.onMessage = () => ({ code: 554, message: "rejected" });
    for (let i = 0; i < 4; i++) await b.enqueue({ subject: `f${i}` });
    expect(summary((await b.run(["send-mail"])).stdout).failed).toBe(4);
    const [first, second] = await b.messages();

    const byId = await b.run(["retry-failed", String(first!.id), "999999"]);
    expect([byId.code, byId.stdout]).toEqual([1, "1 message(s) re-queued\n"]);
    expect(byId.stderr).toContain("mailer: retry-failed: no failed message with id 999999");
    const byMessageId = await b.run(["retry-failed", second!.message_id.replace(/^<|>$/g, "")]);
    expect([byMessageId.code, byMessageId.stdout]).toEqual([0, "1 message(s) re-queued\n"]);
    // Already queued again: not a failed message any more.
    expect((await b.run(["retry-failed", String(first!.id)])).code).toBe(1);
    expect((await b.run(["retry-failed", "--all"])).stdout).toBe("2 message(s) re-queued\n");
    expect((await b.messages()).map((r) => [r.status, r.next_attempt_at])).toEqual(Array.from({ length: 4 }, () => ["queued", null]));

    b.sink.onMessage = () => undefined;
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(4);
    expect((await b.run(["retry-failed"])).code).toBe(64);
    expect((await b.run(["retry-failed", "--all", "1"])).code).toBe(64);
  });
});
