// runmailer under a supervisor: it sleeps only when there is nothing it may send, wakes to new mail,
// and ends cleanly on SIGTERM. Also: a SIGKILLed worker's claims do not wait for their lease.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

const lockFile = (bench: Bench) => join(bench.dir, "send_mail.lock");

/** Resolves when the sink has a message in its DATA phase; the sink then never answers it. */
function stallNext(bench: Bench): Promise<void> {
  return new Promise((resolve) => {
    bench.sink.onMessage = () => {
      resolve();
      return "stall";
    };
  });
}

forEachDialect((dialect, it) => {
  it("picks up mail enqueued while it sleeps, and exits 0 on SIGTERM releasing the lock", async () => {
    b = await bench(dialect, { delivery: { empty_queue_sleep: 0.3 } });
    const { proc, stderr } = b.start(["runmailer", "--log-level", "debug"]);
    await stderr.waitFor(/sleeping for 0.3 s/);
    await b.enqueue({ subject: "while asleep" });
    await b.sink.waitFor(1);
    await b.enqueue({ subject: "later" });
    await b.sink.waitFor(2);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(b.sink.received.map((m) => m.subject)).toEqual(["while asleep", "later"]);
    expect(existsSync(lockFile(b))).toBe(false);
  });

  it("on SIGTERM finishes the send in flight, records it, releases the rest, exits 0", async () => {
    b = await bench(dialect, { backend: { timeout: 1 }, delivery: { empty_queue_sleep: 100 } });
    await b.enqueue({ subject: "in flight" });
    await b.enqueue({ subject: "not started" });
    const inFlight = stallNext(b);
    const { proc } = b.start(["runmailer"]);
    await inFlight;
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    const rows = await b.messages();
    expect(rows.map((r) => [r.subject, r.status, r.claimed_by])).toEqual([
      ["in flight", "deferred", null],
      ["not started", "queued", null],
    ]);
    expect(existsSync(lockFile(b))).toBe(false);
  });

  it("a SIGKILLed send-mail's claimed batch is sent by the next pass without waiting for the lease", async () => {
    b = await bench(dialect, { backend: { timeout: 30 } });
    await b.enqueue();
    await b.enqueue();
    const inFlight = stallNext(b);
    const { proc } = b.start(["send-mail"]);
    await inFlight;
    proc.kill("SIGKILL");
    await proc.exited;
    expect((await b.messages()).every((r) => r.claimed_by !== null)).toBe(true);
    b.sink.onMessage = () => undefined;
    const run = await b.run(["send-mail"]);
    expect(run.stderr).toContain("took over a stale lock");
    expect(run.stderr).toContain("released 2 message(s) claimed by worker(s) that are gone");
    expect(summary(run.stdout).sent).toBe(2);
  });
});

// Loop control, not storage: one database is enough.
describe("sqlite", () => {
  const dialect = "sqlite";
  test("sleeps, rather than spinning, while another process holds the lock; SIGTERM wakes it", async () => {
    b = await bench(dialect, { delivery: { empty_queue_sleep: 100 } });
    writeFileSync(lockFile(b), JSON.stringify({ host: hostname(), pid: process.pid, started: "x" }));
    await b.enqueue();
    const { proc, stderr } = b.start(["runmailer", "--log-level", "debug"]);
    await stderr.waitFor(/sleeping for 100 s/);
    await Bun.sleep(500);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(stderr.lines.filter((l) => l.includes("lock held by"))).toHaveLength(1);
    expect(b.sink.received).toHaveLength(0);
  });

  test("sleeps after a pass that max_batch stopped, though mail is left", async () => {
    b = await bench(dialect, { delivery: { empty_queue_sleep: 100, max_batch: 1 } });
    for (let i = 0; i < 3; i++) await b.enqueue();
    const { proc, stderr } = b.start(["runmailer", "--log-level", "debug"]);
    await stderr.waitFor(/sleeping for 100 s/);
    expect(b.sink.received).toHaveLength(1);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect((await b.messages()).map((r) => [r.status, r.claimed_by])).toEqual([
      ["queued", null],
      ["queued", null],
    ]);
  });

  test("a second SIGTERM exits at once (143), leaving the lock for the next pass to take over", async () => {
    b = await bench(dialect, { backend: { timeout: 30 } });
    await b.enqueue();
    const inFlight = stallNext(b);
    const { proc, stderr } = b.start(["runmailer"]);
    await inFlight;
    proc.kill("SIGTERM");
    await stderr.waitFor(/SIGTERM received: finishing/);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(143);
    b.sink.onMessage = () => undefined;
    const run = await b.run(["send-mail"]);
    expect(run.stderr).toContain("took over a stale lock");
    expect(summary(run.stdout).sent).toBe(1);
  });

  test("honours pause_send: no passes while paused", async () => {
    b = await bench(dialect, { delivery: { empty_queue_sleep: 0.1, pause_send: true } });
    await b.enqueue();
    const { proc, stderr } = b.start(["runmailer", "--log-level", "debug"]);
    await stderr.waitFor(/sending is paused/);
    await Bun.sleep(300);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(b.sink.received).toHaveLength(0);
    expect(await b.messages()).toHaveLength(1);
  });
});
