// The host-local pass lock: `<lock.path>.lock`, holding {host, pid, started, boot, pidns} as JSON.
//
// Created with link(2) from a fully written temporary file, so the lock file never exists without its
// content (a reader never mistakes a half-written lock for a corrupt one). A lock whose owner is known
// to be gone (process-identity.ts: same host, boot and PID namespace, PID not running; or an earlier
// boot) is taken over at once (django-mailer's stale lock stopped all mail until someone deleted it).
// An owner that cannot be judged from here (another container's PID namespace, another host on a
// shared volume) keeps the lock while it beats: its holder touches the file every 10 s, and a lock
// not touched for 60 s is stale. The takeover runs under a guard file so that two processes that find
// the same stale lock cannot both end up holding it. Nothing else ever unlinks the lock but its owner.
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { randomHex } from "../bytes.ts";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { liveness, thisProcess, type ProcessIdentity } from "../process-identity.ts";
import { sleep } from "../runtime.ts";

export interface LockOwner extends ProcessIdentity {
  started: string;
}

export interface HeldLock {
  path: string;
  owner: LockOwner;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): void;
}

export type LockAttempt = { acquired: true; lock: HeldLock } | { acquired: false; owner: LockOwner | null; waited: number };

export interface LockOptions {
  /** Seconds: <= 0 one try, N wait up to N seconds, "forever" wait until it is free (or `signal`). */
  waitTimeout: number | "forever";
  logger: Logger;
  signal?: AbortSignal;
  /** Tests only: awaited between the takeover's file operations, so that a test can interleave two
   * acquirers step by step. */
  step?: (name: string) => Promise<void>;
  /** How often the holder touches the lock (default 10 s; tests shorten it). */
  heartbeatMs?: number;
}

/** A guard whose holder cannot be judged and that is older than this was left by a process that died
 * in the middle of a takeover (a takeover lasts microseconds). */
const GUARD_STALE_MS = 30_000;
/** Guards tried in turn, past those left by takers that died; a winner removes the ones it passed. */
const GUARD_GENERATIONS = 64;
/** The holder touches the lock this often (LockOptions.heartbeatMs)... */
const HEARTBEAT_MS = 10_000;
/** ...and a lock whose owner cannot be judged from here is stale once untouched this long. */
const HEARTBEAT_STALE_MS = 60_000;
/** A lock file without readable content this old was not written by us (e.g. `touch`ed): stale. */
const CORRUPT_STALE_MS = 10_000;

export const lockFileFor = (path: string) => path + ".lock";

/** Lock files this process holds. A lock naming our own PID that is not in here was left by an earlier
 * process that had the same PID (a restarted container is PID 1 again): it is stale, not ours. */
const heldHere = new Set<string>();
/** Takeover guards this process holds right now (two passes in one process may race for a lock). */
const guardsHeldHere = new Set<string>();

const sameOwner = (a: LockOwner | null, b: LockOwner | null) =>
  a !== null && b !== null && a.host === b.host && a.pid === b.pid && a.started === b.started && a.pidns === b.pidns;

function readOwner(file: string): LockOwner | null {
  try {
    const data = JSON.parse(readFileSync(file, "utf8")) as Partial<LockOwner>;
    if (typeof data.host === "string" && typeof data.pid === "number" && typeof data.started === "string") {
      // A lock written by an older mailer names no scope: "" (liveness() then cannot place its PID).
      const boot = typeof data.boot === "string" ? data.boot : "";
      const pidns = typeof data.pidns === "string" ? data.pidns : "";
      return { host: data.host, pid: data.pid, started: data.started, boot, pidns };
    }
  } catch {
    // missing or unreadable: the caller decides
  }
  return null;
}

const code = (error: unknown) => (error as NodeJS.ErrnoException)?.code;

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function unlinkQuietly(file: string) {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

export async function acquireFileLock(path: string, options: LockOptions): Promise<LockAttempt> {
  const file = lockFileFor(path);
  const owner: LockOwner = { ...thisProcess(), started: new Date().toISOString() };
  const start = Date.now();
  const wait = options.waitTimeout;
  const pollMs = wait === "forever" ? 100 : Math.max(50, (wait * 1000) / 10);
  for (;;) {
    const found = await tryAcquire(file, owner, options);
    if (found === "acquired") {
      heldHere.add(file);
      return { acquired: true, lock: heldLock(file, owner, options.heartbeatMs ?? HEARTBEAT_MS) };
    }
    const waited = (Date.now() - start) / 1000;
    const deadlinePassed = wait !== "forever" && (wait <= 0 || waited >= wait);
    if (deadlinePassed || options.signal?.aborted) return { acquired: false, owner: found, waited };
    await sleep(wait === "forever" ? pollMs : Math.min(pollMs, wait * 1000 - (Date.now() - start)), options.signal);
  }
}

/** Whether the lock's owner is gone: judged by its process where it can be, else by its heartbeat. */
function isStale(file: string, current: LockOwner | null): boolean {
  if (current === null) return ageMs(file) > CORRUPT_STALE_MS;
  const judged = liveness(current, () => heldHere.has(file));
  return judged === "unknown" ? ageMs(file) > HEARTBEAT_STALE_MS : judged === "gone";
}

/** One attempt: "acquired", or the current owner (null when unreadable). */
async function tryAcquire(file: string, owner: LockOwner, options: LockOptions): Promise<"acquired" | LockOwner | null> {
  const temp = `${file}.${owner.pid}.${randomHex(4)}.tmp`;
  try {
    writeFileSync(temp, JSON.stringify(owner) + "\n");
  } catch (error) {
    throw new ConfigError(`lock.path: cannot create ${temp}: ${(error as Error).message}`);
  }
  try {
    try {
      linkSync(temp, file);
      return "acquired";
    } catch (error) {
      if (code(error) !== "EEXIST") throw new ConfigError(`lock.path: cannot create ${file}: ${(error as Error).message}`);
    }
    const current = readOwner(file);
    if (!isStale(file, current)) return current;
    if (!(await takeOver(file, temp, current, options))) return readOwner(file);
    const who = current ? `${current.host}:${current.pid}` : "an unreadable lock file";
    options.logger.warn(`took over a stale lock left by ${who} (that process is gone)`, { lock: file });
    return "acquired";
  } finally {
    unlinkQuietly(temp);
  }
}

/** A guard left by a taker that is gone, or (when its taker cannot be judged) older than any takeover. */
function guardAbandoned(guard: string): boolean {
  const holder = readOwner(guard);
  const judged = holder === null ? "unknown" : liveness(holder, () => guardsHeldHere.has(guard));
  return judged === "unknown" ? ageMs(guard) > GUARD_STALE_MS : judged === "gone";
}

/** Replaces the stale lock with ours, under a guard, only if it is still the one we judged stale.
 *
 * Guards are tried in generations (`.takeover.0`, `.1`, …) and never removed by anyone but their
 * holder or a winner: a guard left by a taker that died is stepped over, not unlinked, because
 * "judge it abandoned, then unlink it" is two steps between which another taker can put its own
 * fresh guard there, and both would then hold one. The holder of a guard verifies the lock and
 * replaces it; a winner then removes the abandoned guards it stepped over (nobody can need them:
 * the lock they guarded is gone). */
async function takeOver(file: string, temp: string, stale: LockOwner | null, options: LockOptions): Promise<boolean> {
  const step = options.step;
  const abandoned: string[] = [];
  for (let generation = 0; generation < GUARD_GENERATIONS; generation++) {
    const guard = `${file}.takeover.${generation}`;
    if (step) await step(`link ${guard}`);
    try {
      linkSync(temp, guard);
      guardsHeldHere.add(guard);
    } catch (error) {
      if (code(error) !== "EEXIST") return false;
      if (step) await step(`judge ${guard}`);
      // Someone else is taking over right now (a takeover lasts microseconds): theirs.
      if (!guardAbandoned(guard)) return false;
      if (abandoned.length === 0) options.logger.warn("stepping over a takeover guard left by a process that died", { guard });
      abandoned.push(guard);
      continue;
    }
    try {
      if (step) await step("verify");
      const now = readOwner(file);
      const unchanged = stale === null ? now === null : sameOwner(now, stale);
      if (!unchanged) return false;
      if (step) await step("replace");
      // rename() replaces the file atomically: the lock never disappears, so plain link() acquirers
      // keep getting EEXIST throughout.
      const mine = `${temp}.own`;
      linkSync(temp, mine);
      renameSync(mine, file);
      for (const old of abandoned) unlinkQuietly(old);
      return true;
    } finally {
      guardsHeldHere.delete(guard);
      unlinkQuietly(guard);
    }
  }
  return false;
}

function heldLock(file: string, owner: LockOwner, heartbeatMs: number): HeldLock {
  let released = false;
  // The heartbeat that keeps the lock ours in the eyes of those who cannot judge our PID.
  const beat = setInterval(() => {
    try {
      if (sameOwner(readOwner(file), owner)) utimesSync(file, new Date(), new Date());
    } catch {
      // the next beat tries again
    }
  }, heartbeatMs);
  beat.unref?.();
  return {
    path: file,
    owner,
    release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      heldHere.delete(file);
      // Only our own lock: if it was taken over (we were thought dead), it is someone else's now.
      if (sameOwner(readOwner(file), owner)) unlinkQuietly(file);
    },
  };
}
