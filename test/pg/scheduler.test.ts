// runmailer-pg's pass scheduling in-process, with passes the test holds open: the first pass at
// start, coalescing (one running, at most one pending), the skip of an empty follow-up pass, the
// beat, "more" after a pass that left mail, and stopping. Plus the reconnect backoff's bounds.
import { afterEach, expect, test } from "bun:test";
import { memoryLogger } from "../../src/log.ts";
import { backoffDelay } from "../../src/pg/backoff.ts";
import { PassScheduler, type PassReason } from "../../src/pg/scheduler.ts";

interface Held {
  reason: PassReason;
  finish(idle?: boolean): void;
}

function harness(options: { beatMs?: number; sendable?: () => boolean } = {}) {
  const stop = new AbortController();
  const passes: Held[] = [];
  let wake = () => {};
  let checks = 0;
  const scheduler = new PassScheduler({
    logger: memoryLogger(),
    signal: stop.signal,
    idleMs: async () => options.beatMs ?? 60_000,
    sendable: async () => {
      checks++;
      return options.sendable?.() ?? true;
    },
    pass: (reason) =>
      new Promise<boolean>((resolve) => {
        passes.push({ reason, finish: (idle = true) => resolve(idle) });
        wake();
      }),
  });
  const running = scheduler.run();
  /** Resolves once pass number `n` (1-based) has started. */
  const started = async (n: number) => {
    while (passes.length < n) await new Promise<void>((r) => (wake = r));
    return passes[n - 1]!;
  };
  const settle = () => new Promise((r) => setTimeout(r, 20));
  const done = async () => {
    stop.abort();
    passes.at(-1)?.finish();
    await running;
  };
  cleanups.push(done);
  return { scheduler, passes, started, settle, done, checks: () => checks };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

test("the first pass runs at start", async () => {
  const h = harness();
  expect((await h.started(1)).reason).toBe("start");
});

test("a thousand notifications while a pass runs leave exactly one pass pending", async () => {
  const h = harness({ sendable: () => true });
  const first = await h.started(1);
  for (let i = 0; i < 1000; i++) h.scheduler.request("notify");
  first.finish();
  const second = await h.started(2);
  expect(second.reason).toBe("notify");
  second.finish();
  await h.settle();
  expect(h.passes).toHaveLength(2);
});

test("a follow-up pass asked for only by notifications during the last pass is skipped when nothing is sendable", async () => {
  const h = harness({ sendable: () => false });
  const first = await h.started(1);
  for (let i = 0; i < 1000; i++) h.scheduler.request("notify");
  first.finish();
  await h.settle();
  expect(h.passes).toHaveLength(1);
  expect(h.checks()).toBe(1);
  // A notification while idle is never second-guessed: it runs a pass at once.
  h.scheduler.request("notify");
  expect((await h.started(2)).reason).toBe("notify");
  expect(h.checks()).toBe(1);
});

test("a reconnect during a pass is never skipped, even with notifications pending", async () => {
  const h = harness({ sendable: () => false });
  const first = await h.started(1);
  h.scheduler.request("notify");
  h.scheduler.request("reconnect");
  first.finish();
  expect((await h.started(2)).reason).toBe("reconnect");
});

test("a pass that leaves sendable mail is followed at once by another", async () => {
  const h = harness();
  (await h.started(1)).finish(false);
  expect((await h.started(2)).reason).toBe("more");
});

test("the beat runs a pass when nothing else did for empty_queue_sleep", async () => {
  const h = harness({ beatMs: 30 });
  (await h.started(1)).finish();
  const beat = await h.started(2);
  expect(beat.reason).toBe("beat");
});

test("stopping ends the run while idle, without another pass", async () => {
  const h = harness();
  (await h.started(1)).finish();
  await h.done();
  expect(h.passes).toHaveLength(1);
});

test("reconnect backoff grows, is capped, and is jittered", () => {
  const opts = { baseMs: 500, capMs: 30_000 };
  expect(backoffDelay(1, opts, () => 0)).toBe(250);
  expect(backoffDelay(1, opts, () => 1)).toBe(500);
  expect(backoffDelay(4, opts, () => 1)).toBe(4000);
  expect(backoffDelay(50, opts, () => 1)).toBe(30_000);
  expect(backoffDelay(50, opts, () => 0)).toBe(15_000);
  const spread = new Set(Array.from({ length: 20 }, () => backoffDelay(3, opts)));
  expect(spread.size).toBeGreaterThan(10);
});
