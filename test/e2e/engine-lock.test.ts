// The pass lock, as operators meet it: overlapping cron runs, a lock left by a killed run, a lock on
// shared storage from another host. Run on both databases, as the rest of the pass.
import { afterEach, expect } from "bun:test";
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { utimesSync } from "node:fs";
import { processScope } from "../../src/process-identity.ts";
import { join } from "node:path";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

const lockFile = (bench: Bench) => join(bench.dir, "send_mail.lock");
/** A lock as a mailer in this boot and PID namespace writes it (`scope` overrides boot or pidns). */
const writeLock = (bench: Bench, owner: { host: string; pid: number }, scope: Partial<{ boot: string; pidns: string }> = {}) =>
  writeFileSync(lockFile(bench), JSON.stringify({ ...owner, started: new Date().toISOString(), ...processScope(), ...scope }));

/** A PID that just ended (a recycled PID this quickly is not a realistic worry). */
function deadPid(): number {
  const proc = Bun.spawnSync(["true"]);
  return proc.pid;
}

forEachDialect((dialect, it) => {
  it("a lock left by a dead process on this host is taken over with a warning", async () => {
    b = await bench(dialect);
    writeLock(b, { host: hostname(), pid: deadPid() });
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("took over a stale lock");
    expect(summary(run.stdout).sent).toBe(1);
    expect(existsSync(lockFile(b))).toBe(false);
  });

  it("a live lock makes the pass exit 0 at once with one log line and send nothing", async () => {
    b = await bench(dialect);
    writeLock(b, { host: hostname(), pid: process.pid });
    const before = readFileSync(lockFile(b), "utf8");
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain(`lock held by ${hostname()}:${process.pid}; quitting`);
    expect(b.sink.received).toHaveLength(0);
    expect(readFileSync(lockFile(b), "utf8")).toBe(before);
  });

  it("a lock from another host is respected: its PID means nothing here", async () => {
    b = await bench(dialect);
    writeLock(b, { host: "elsewhere.example", pid: deadPid() });
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("lock held by elsewhere.example:");
    expect(b.sink.received).toHaveLength(0);
  });

  it("a lock from a container with our host name is respected while it beats, and taken over 60 s after its last beat", async () => {
    b = await bench(dialect);
    // PID 1 of another PID namespace: by host and PID alone, our own cron job's PID 1 would call it dead.
    writeLock(b, { host: hostname(), pid: 1 }, { pidns: "1" });
    await b.enqueue();
    const held = await b.run(["send-mail"]);
    expect(held.code).toBe(0);
    expect(held.stderr).toContain(`lock held by ${hostname()}:1`);
    expect(b.sink.received).toHaveLength(0);
    const lastBeat = new Date(Date.now() - 61_000);
    utimesSync(lockFile(b), lastBeat, lastBeat);
    const run = await b.run(["send-mail"]);
    expect(run.stderr).toContain("took over a stale lock");
    expect(summary(run.stdout).sent).toBe(1);
  });

  it("wait_timeout N waits for the lock to be freed, then sends", async () => {
    b = await bench(dialect, { lock: { wait_timeout: 20 } });
    writeLock(b, { host: hostname(), pid: process.pid });
    await b.enqueue();
    const running = b.run(["send-mail"]);
    await Bun.sleep(300);
    expect(b.sink.received).toHaveLength(0);
    unlinkSync(lockFile(b));
    const run = await running;
    expect(run.code).toBe(0);
    expect(summary(run.stdout).sent).toBe(1);
  });

  it("wait_timeout N gives up after N seconds, exit 0", async () => {
    b = await bench(dialect, { lock: { wait_timeout: 0.5 } });
    writeLock(b, { host: hostname(), pid: process.pid });
    await b.enqueue();
    const started = performance.now();
    const run = await b.run(["send-mail"]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/lock held by .*\(waited [\d.]+ s\); quitting/);
    expect(b.sink.received).toHaveLength(0);
  });

  it("use_file_lock = false ignores the lock file entirely", async () => {
    b = await bench(dialect, { lock: { use_file_lock: false } });
    writeLock(b, { host: hostname(), pid: process.pid });
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout).sent).toBe(1);
    expect(existsSync(lockFile(b))).toBe(true);
  });

  it("the lock is released after a pass that fails", async () => {
    b = await bench(dialect);
    writeFileSync(join(b.dir, "handler.ts"), `export default () => { throw new Error("handler bug"); };\n`);
    b.configure({ top: { error_handler: "./handler.ts" } });
    b.sink.onMessage = () => ({ code: 451 });
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(70);
    expect(existsSync(lockFile(b))).toBe(false);
  });

  it("an unwritable lock directory is a config error (exit 78) naming the path", async () => {
    b = await bench(dialect, { lock: { path: "/nonexistent-dir/send_mail" } });
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("lock.path");
    expect(await b.messages()).toHaveLength(1);
  });
});
