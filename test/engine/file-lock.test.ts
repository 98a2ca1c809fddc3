// The pass lock: atomic creation, stale takeover, and the takeover race between real processes.
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { acquireFileLock, lockFileFor } from "../../src/lock/file-lock.ts";
import { memoryLogger } from "../../src/log.ts";
import { processScope } from "../../src/process-identity.ts";
import { tempDir } from "../helpers/db.ts";

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir?.cleanup());

function setup() {
  dir = tempDir("mailer-lock-");
  const path = join(dir.path, "send_mail");
  return { path, file: lockFileFor(path), logger: memoryLogger() };
}

const deadPid = () => Bun.spawnSync(["true"]).pid;
/** A lock (or guard) file's content as a mailer in this boot and PID namespace writes it. */
const ownerJson = (pid: number, more: Record<string, unknown> = {}) =>
  JSON.stringify({ host: hostname(), pid, started: "x", ...processScope(), ...more });
const age = (file: string, ms: number) => {
  const then = new Date(Date.now() - ms);
  utimesSync(file, then, then);
};

test("acquire writes host, pid and start time; release removes the file", async () => {
  const { path, file, logger } = setup();
  const got = await acquireFileLock(path, { waitTimeout: -1, logger });
  if (!got.acquired) throw new Error("not acquired");
  const content = JSON.parse(readFileSync(file, "utf8"));
  expect(content).toEqual({ host: hostname(), pid: process.pid, started: expect.any(String), ...processScope() });
  got.lock.release();
  expect(existsSync(file)).toBe(false);
  got.lock.release();
});

test("a second acquire in the same process while held reports the owner", async () => {
  const { path, logger } = setup();
  const first = await acquireFileLock(path, { waitTimeout: -1, logger });
  const second = await acquireFileLock(path, { waitTimeout: -1, logger });
  expect(second.acquired).toBe(false);
  if (!second.acquired) expect(second.owner).toMatchObject({ host: hostname(), pid: process.pid });
  if (first.acquired) first.lock.release();
});

test("a lock naming our own PID that we do not hold is stale (a restarted container is PID 1 again)", async () => {
  const { path, file, logger } = setup();
  writeFileSync(file, ownerJson(process.pid, { started: "earlier life" }));
  const got = await acquireFileLock(path, { waitTimeout: -1, logger });
  expect(got.acquired).toBe(true);
  expect(logger.lines.join("\n")).toContain("took over a stale lock");
});

test("release leaves alone a lock that is no longer ours", async () => {
  const { path, file, logger } = setup();
  const got = await acquireFileLock(path, { waitTimeout: -1, logger });
  const other = JSON.stringify({ host: "other", pid: 1, started: "x" });
  writeFileSync(file, other);
  if (got.acquired) got.lock.release();
  expect(readFileSync(file, "utf8")).toBe(other);
});

test("an unreadable lock file is respected while fresh and taken over once old", async () => {
  const { path, file, logger } = setup();
  writeFileSync(file, "");
  const fresh = await acquireFileLock(path, { waitTimeout: -1, logger });
  expect(fresh.acquired).toBe(false);
  const old = new Date(Date.now() - 60_000);
  utimesSync(file, old, old);
  const stale = await acquireFileLock(path, { waitTimeout: -1, logger });
  expect(stale.acquired).toBe(true);
});

test("an aborted wait returns at once", async () => {
  const { path, file, logger } = setup();
  writeFileSync(file, ownerJson(process.ppid));
  const controller = new AbortController();
  controller.abort();
  const got = await acquireFileLock(path, { waitTimeout: "forever", logger, signal: controller.signal });
  expect(got.acquired).toBe(false);
});

test("of many processes racing to take over one stale lock, exactly one gets it", async () => {
  const { path, file } = setup();
  writeFileSync(file, ownerJson(deadPid()));
  const startAt = Date.now() + 700;
  const children = Array.from({ length: 8 }, () =>
    Bun.spawn([process.execPath, join(import.meta.dir, "fixtures/lock-child.ts"), path, String(startAt)], {
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  try {
    const answers = await Promise.all(
      children.map(async (child) => {
        const reader = child.stdout.getReader();
        let text = "";
        while (!text.includes("\n")) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
        return text.trim();
      }),
    );
    expect(answers.filter((a) => a === "acquired")).toHaveLength(1);
    expect(answers.filter((a) => a === "held")).toHaveLength(7);
  } finally {
    for (const child of children) child.kill("SIGKILL");
  }
});

test("while another process is taking over (its guard is fresh or its holder alive) this one does not", async () => {
  const { path, file, logger } = setup();
  writeFileSync(file, ownerJson(deadPid()));
  writeFileSync(file + ".takeover.0", "{}");
  expect((await acquireFileLock(path, { waitTimeout: -1, logger })).acquired).toBe(false);
  writeFileSync(file + ".takeover.0", ownerJson(process.ppid));
  age(file + ".takeover.0", 120_000);
  expect((await acquireFileLock(path, { waitTimeout: -1, logger })).acquired).toBe(false);
});

test("guards left by takers that died are stepped over, never unlinked before the takeover, and removed by the winner", async () => {
  const { path, file, logger } = setup();
  writeFileSync(file, ownerJson(deadPid()));
  writeFileSync(file + ".takeover.0", ownerJson(deadPid()));
  writeFileSync(file + ".takeover.1", "{}");
  age(file + ".takeover.1", 120_000);
  const got = await acquireFileLock(path, { waitTimeout: -1, logger });
  expect(got.acquired).toBe(true);
  for (const g of [0, 1, 2]) expect(existsSync(`${file}.takeover.${g}`)).toBe(false);
  expect(logger.lines.join("\n")).toContain("stepping over a takeover guard left by a process that died");
});

test("an owner in another PID namespace (another container, same host name) keeps the lock while its heartbeat is fresh", async () => {
  const { path, file, logger } = setup();
  // Its PID may name nothing here, or our own PID: neither says anything about it.
  for (const pid of [deadPid(), process.pid]) {
    writeFileSync(file, ownerJson(pid, { pidns: "1" }));
    expect((await acquireFileLock(path, { waitTimeout: -1, logger })).acquired).toBe(false);
    age(file, 30_000);
    expect((await acquireFileLock(path, { waitTimeout: -1, logger })).acquired).toBe(false);
  }
  age(file, 61_000);
  const got = await acquireFileLock(path, { waitTimeout: -1, logger });
  expect(got.acquired).toBe(true);
  if (got.acquired) got.lock.release();
});

test("a lock from an older mailer (no scope) is judged by its age; one from an earlier boot is stale at once", async () => {
  const { path, file, logger } = setup();
  writeFileSync(file, JSON.stringify({ host: hostname(), pid: deadPid(), started: "x" }));
  expect((await acquireFileLock(path, { waitTimeout: -1, logger })).acquired).toBe(false);
  age(file, 61_000);
  const old = await acquireFileLock(path, { waitTimeout: -1, logger });
  expect(old.acquired).toBe(true);
  if (old.acquired) old.lock.release();
  writeFileSync(file, ownerJson(process.ppid, { boot: "00000000" }));
  const reboot = await acquireFileLock(path, { waitTimeout: -1, logger });
  expect(reboot.acquired).toBe(true);
  if (reboot.acquired) reboot.lock.release();
});

test("the holder's heartbeat keeps the lock fresh, and stops at release", async () => {
  const { path, file, logger } = setup();
  const got = await acquireFileLock(path, { waitTimeout: -1, logger, heartbeatMs: 20 });
  if (!got.acquired) throw new Error("not acquired");
  age(file, 300_000);
  await Bun.sleep(100);
  expect(Date.now() - statSync(file).mtimeMs).toBeLessThan(5_000);
  got.lock.release();
  expect(existsSync(file)).toBe(false);
});

/** Two acquirers in one process whose every file step waits for a seeded random scheduler. */
async function interleavedTakeovers(seed: number, prepare: (file: string) => void): Promise<boolean[]> {
  const { path, file, logger } = setup();
  prepare(file);
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const waiting: Array<() => void> = [];
  const step = () => new Promise<void>((resolve) => waiting.push(resolve));
  let settled = 0;
  const runs = [0, 1].map(() =>
    acquireFileLock(path, { waitTimeout: -1, logger, step }).finally(() => settled++),
  );
  while (settled < 2) {
    await new Promise((r) => setImmediate(r));
    if (waiting.length > 0) waiting.splice(Math.floor(random() * waiting.length), 1)[0]!();
  }
  const results = await Promise.all(runs);
  for (const r of results) if (r.acquired) r.lock.release();
  dir.cleanup();
  return results.map((r) => r.acquired);
}

test("two takers interleaved step by step in 300 orders: exactly one takes the stale lock, past a dead taker's guard or not", async () => {
  const deadGuard = (file: string) => {
    writeFileSync(file, ownerJson(deadPid()));
    writeFileSync(file + ".takeover.0", ownerJson(deadPid()));
  };
  const noGuard = (file: string) => writeFileSync(file, ownerJson(deadPid()));
  for (let seed = 1; seed <= 150; seed++) {
    for (const prepare of [deadGuard, noGuard]) {
      const won = await interleavedTakeovers(seed, prepare);
      expect({ seed, winners: won.filter(Boolean).length }).toEqual({ seed, winners: 1 });
    }
  }
});
