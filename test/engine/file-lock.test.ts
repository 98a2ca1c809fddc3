// The pass lock: atomic creation, stale takeover, and the takeover race between real processes.
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { acquireFileLock, lockFileFor } from "../../src/lock/file-lock.ts";
import { memoryLogger } from "../../src/log.ts";
import { tempDir } from "../helpers/db.ts";

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir?.cleanup());

function setup() {
  dir = tempDir("mailer-lock-");
  const path = join(dir.path, "send_mail");
  return { path, file: lockFileFor(path), logger: memoryLogger() };
}

const deadPid = () => Bun.spawnSync(["true"]).pid;

test("acquire writes host, pid and start time; release removes the file", async () => {
  const { path, file, logger } = setup();
  const got = await acquireFileLock(path, { waitTimeout: -1, logger });
  if (!got.acquired) throw new Error("not acquired");
  const content = JSON.parse(readFileSync(file, "utf8"));
  expect(content).toEqual({ host: hostname(), pid: process.pid, started: expect.any(String) });
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
  writeFileSync(file, JSON.stringify({ host: hostname(), pid: process.pid, started: "earlier life" }));
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
  writeFileSync(file, JSON.stringify({ host: hostname(), pid: process.ppid, started: "x" }));
  const controller = new AbortController();
  controller.abort();
  const got = await acquireFileLock(path, { waitTimeout: "forever", logger, signal: controller.signal });
  expect(got.acquired).toBe(false);
});

test("of many processes racing to take over one stale lock, exactly one gets it", async () => {
  const { path, file } = setup();
  writeFileSync(file, JSON.stringify({ host: hostname(), pid: deadPid(), started: "x" }));
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

test("while another process is taking over (its guard is fresh) this one does not", async () => {
  const { path, file, logger } = setup();
  writeFileSync(file, JSON.stringify({ host: hostname(), pid: deadPid(), started: "x" }));
  writeFileSync(file + ".takeover", "{}");
  expect((await acquireFileLock(path, { waitTimeout: -1, logger })).acquired).toBe(false);
});

test("a guard left by a process that died mid-takeover is cleared, and the lock taken over", async () => {
  const { path, file, logger } = setup();
  writeFileSync(file, JSON.stringify({ host: hostname(), pid: deadPid(), started: "x" }));
  writeFileSync(file + ".takeover", "{}");
  const old = new Date(Date.now() - 120_000);
  utimesSync(file + ".takeover", old, old);
  expect((await acquireFileLock(path, { waitTimeout: -1, logger })).acquired).toBe(true);
  expect(existsSync(file + ".takeover")).toBe(false);
});
