// Graceful and forced shutdown of the compiled binary. First SIGTERM/SIGINT: no new sends; sends in
// flight get delivery.shutdown_timeout, then are abandoned and their messages *released* (they may
// have reached the server, so they are not deferred); claims and the lock are given back; exit 0.
// Second signal: exit at once, and the next run recovers everything.
import { afterEach, expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { deliveries } from "../helpers/smtp-sink.ts";
import { finalState } from "./support.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

/** The sink stalls every message (never answers) until `release()`; resolves once `n` are stalled. */
function stallAll(bench: Bench, n: number) {
  let stalled = 0;
  let reached = () => {};
  const ready = new Promise<void>((resolve) => (reached = resolve));
  bench.sink.onMessage = () => {
    if (++stalled >= n) reached();
    return "stall";
  };
  return { ready, release: () => (bench.sink.onMessage = () => undefined) };
}

forEachDialect((dialect, it) => {
  it("first SIGTERM: stalled sends are abandoned after shutdown_timeout and released, not deferred; exit 0", async () => {
    b = await bench(dialect, { backend: { pool: 3, timeout: 60 }, delivery: { shutdown_timeout: 0.5, claim_batch: 10 } });
    for (let i = 0; i < 6; i++) await b.enqueue({ subject: `m${i}` });
    const stall = stallAll(b, 3);
    const { proc, stderr } = b.start(["runmailer"]);
    await stall.ready;
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    await stderr.done;
    expect(stderr.lines.join("\n")).toContain("shutdown_timeout (0.5 s) ran out with 3 send(s) in flight");
    const state = await finalState(b);
    expect(state.rows.map((r) => [r.status, r.claimed_by])).toEqual(Array.from({ length: 6 }, () => ["queued", null]));
    expect(state.logs).toHaveLength(0);
    expect(existsSync(join(b.dir, "send_mail.lock"))).toBe(false);

    stall.release();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout).sent).toBe(6);
    // The lock and claims were given back: nothing to take over.
    expect(run.stderr).not.toContain("stale lock");
    expect(run.stderr).not.toContain("released");
  });

  it("second SIGTERM exits at once (143); the next run takes the lock and claims over and delivers all", async () => {
    b = await bench(dialect, { backend: { pool: 2, timeout: 60 }, delivery: { shutdown_timeout: 60 } });
    for (let i = 0; i < 5; i++) await b.enqueue({ subject: `m${i}` });
    const stall = stallAll(b, 2);
    const { proc, stderr } = b.start(["send-mail"]);
    await stall.ready;
    proc.kill("SIGTERM");
    await stderr.waitFor(/SIGTERM received/);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(143);
    expect((await finalState(b)).claimed.length).toBeGreaterThan(0);

    stall.release();
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("took over a stale lock");
    expect(summary(run.stdout).sent).toBe(5);
    expect([...deliveries(b.sink.received).values()].every((n) => n === 1)).toBe(true);
    expect(await b.messages()).toHaveLength(0);
  });
});
