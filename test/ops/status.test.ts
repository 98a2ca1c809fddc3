import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { processScope } from "../../src/process-identity.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { addLog, addMessage, seededDatabase, type Seeded } from "./seed.ts";

const near = (actual: number | null, expected: number, slack = 5) => {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(slack);
};

forEachDialect((dialect, it) => {
  let s: Seeded;
  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    s = await seededDatabase(dialect);
    const db = s.db;
    await addMessage(db, { priority: 1, ageS: 100 });
    await addMessage(db, { priority: 1, ageS: 50, claimed_by: "host:1:a", leaseInS: 60 });
    await addMessage(db, { priority: 2, ageS: 3000 });
    await addMessage(db, { priority: 2, ageS: 20, nextAttemptInS: -5 });
    await addMessage(db, { priority: 3, ageS: 10 });
    // Queued but not due: older than everything, yet neither counted nor the oldest.
    await addMessage(db, { priority: 2, ageS: 99_999, nextAttemptInS: 600 });
    await addMessage(db, { status: "deferred", ageS: 400, nextAttemptInS: 300 });
    await addMessage(db, { status: "deferred", ageS: 400 });
    await addMessage(db, { status: "failed", ageS: 500, nextAttemptInS: -100 });
    for (const ageS of [10, 100, 7200, 200_000]) await addLog(db, { result: "success", ageS });
    for (const ageS of [30, 90_000]) await addLog(db, { result: "failure", ageS });
    await addLog(db, { result: "dont_send", ageS: 5000 });
  });
  afterAll(async () => s?.cleanup());

  it("--json reports each field of SPEC §6 and the extras", async () => {
    const run = await s.run(["status", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout);
    // queued = what a pass would send: due queued rows only, not deferred or waiting ones.
    expect(r.queued).toBe(5);
    expect(r.queued_by_priority).toEqual({ high: 2, medium: 2, low: 1 });
    expect(r.queued_waiting).toBe(1);
    expect([r.scheduled, r.rate_limited, r.limits]).toEqual([1, 0, []]);
    expect(r.deferred).toBe(2);
    expect(r.failed).toBe(1);
    expect(r.claimed).toBe(1);
    near(r.oldest_queued_age_s, 3000);
    // The earliest next_attempt_at of queued/deferred rows (the failed row's is ignored).
    near((Date.parse(r.next_retry_at) - Date.now()) / 1000, -5);
    expect(r.log).toEqual({ success: 4, failure: 2, dont_send: 1, expired: 0 });
    expect(r.log_last_hour).toEqual({ success: 2, failure: 1, dont_send: 0, expired: 0 });
    expect(r.log_last_day).toEqual({ success: 3, failure: 1, dont_send: 1, expired: 0 });
    expect(r.schema_version).toBe("0004-send-time-checks");
    expect(r.dialect).toBe(dialect);
    expect(r.lock).toMatchObject({ enabled: true, holder: null });
  });

  it("prints a table with the same facts on a terminal", async () => {
    const run = await s.run(["status"]);
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/^queued \(sendable\)\s+5\s+2\s+2\s+1$/m);
    expect(out).toMatch(/^queued \(scheduled\)\s+1$/m);
    expect(out).toMatch(/^queued \(rate-limited\)\s+0$/m);
    expect(out).toMatch(/^expired\s+0\s+0\s+0$/m);
    expect(out).toMatch(/^deferred\s+2$/m);
    expect(out).toMatch(/^failed\s+1$/m);
    expect(out).toMatch(/^success\s+2\s+3\s+4$/m);
    expect(out).toMatch(/^failure\s+1\s+1\s+2$/m);
    expect(out).toMatch(/^don't send\s+0\s+1\s+1$/m);
    expect(out).toMatch(/^oldest queued\s+(49|50)m \d+s$/m);
    expect(out).toMatch(/^next retry\s+\S+Z \(\d+s ago\)$/m);
    expect(out).toMatch(/^in delivery\s+1 /m);
    expect(out).toMatch(/^lock\s+none$/m);
    expect(out).toMatch(/^schema\s+0004-send-time-checks$/m);
    expect(out).toMatch(new RegExp(`^database\\s+\\S+ \\(${dialect}\\)$`, "m"));
  });
});

describe("status on an empty queue", () => {
  test("reports zeros and a null oldest age", async () => {
    const s = await seededDatabase("sqlite");
    try {
      const r = JSON.parse((await s.run(["status", "--json"])).stdout);
      expect(r).toMatchObject({ queued: 0, deferred: 0, failed: 0, oldest_queued_age_s: null, next_retry_at: null });
      expect(r.log).toEqual({ success: 0, failure: 0, dont_send: 0, expired: 0 });
    } finally {
      await s.cleanup();
    }
  });
});

describe("status reads the lock file", () => {
  let s: Seeded;
  beforeAll(async () => {
    s = await seededDatabase("sqlite");
  });
  afterAll(async () => s.cleanup());
  const lockOf = async () => JSON.parse((await s.run(["status", "--json"])).stdout).lock;

  test("a live holder on this host", async () => {
    writeFileSync(s.lockFile, JSON.stringify({ host: hostname(), pid: process.pid, started: "2026-01-01T00:00:00Z", ...processScope() }));
    expect((await lockOf()).holder).toEqual({ host: hostname(), pid: process.pid, started: "2026-01-01T00:00:00Z", alive: true });
    const text = (await s.run(["status"])).stdout;
    expect(text).toMatch(new RegExp(`^lock\\s+pid ${process.pid} on ${hostname()} since 2026-01-01T00:00:00Z \\(alive\\)$`, "m"));
  });

  test("a dead holder on this host is reported as stale", async () => {
    const gone = Bun.spawn(["true"]);
    await gone.exited;
    writeFileSync(s.lockFile, JSON.stringify({ host: hostname(), pid: gone.pid, started: "2026-01-01T00:00:00Z", ...processScope() }));
    expect((await lockOf()).holder.alive).toBe(false);
    expect((await s.run(["status"])).stdout).toMatch(/^lock\s+pid \d+ .*\(DEAD: stale/m);
  });

  test("a holder on another host, or in another PID namespace under our host name, cannot be probed", async () => {
    writeFileSync(s.lockFile, JSON.stringify({ host: "elsewhere.example", pid: process.pid, started: "x" }));
    expect((await lockOf()).holder).toMatchObject({ host: "elsewhere.example", alive: null });
    writeFileSync(s.lockFile, JSON.stringify({ host: hostname(), pid: 1, started: "x", ...processScope(), pidns: "1" }));
    expect((await lockOf()).holder).toMatchObject({ host: hostname(), pid: 1, alive: null });
  });

  test("a lock file that is not JSON is reported, not fatal", async () => {
    writeFileSync(s.lockFile, "garbage");
    const run = await s.run(["status", "--json"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).lock.holder.unreadable).toContain("not JSON");
  });
});
