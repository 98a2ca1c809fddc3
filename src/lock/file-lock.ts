// The host-local pass lock: `<lock.path>.lock`, holding {host, pid, started} as JSON.
//
// Created with link(2) from a fully written temporary file, so the lock file never exists without its
// content (a reader never mistakes a half-written lock for a corrupt one). A lock whose PID is gone on
// this host is taken over (django-mailer's stale lock stopped all mail until someone deleted it);
// the takeover runs under a second, short-lived guard file so two processes that both find the same
// stale lock cannot both end up holding it. Nothing else ever unlinks the lock but its owner.
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { ownerGone, sleep } from "../runtime.ts";

export interface LockOwner {
  host: string;
  pid: number;
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
}

/** A guard older than this was left by a process that died in the middle of a takeover. */
const GUARD_STALE_MS = 30_000;
/** A lock file without readable content this old was not written by us (e.g. `touch`ed): stale. */
const CORRUPT_STALE_MS = 10_000;

export const lockFileFor = (path: string) => path + ".lock";

/** Lock files this process holds. A lock naming our own PID that is not in here was left by an earlier
 * process that had the same PID (a restarted container is PID 1 again): it is stale, not ours. */
const heldHere = new Set<string>();

const sameOwner = (a: LockOwner | null, b: LockOwner | null) =>
  a !== null && b !== null && a.host === b.host && a.pid === b.pid && a.started === b.started;

function readOwner(file: string): LockOwner | null {
  try {
    const data = JSON.parse(readFileSync(file, "utf8")) as Partial<LockOwner>;
    if (typeof data.host === "string" && typeof data.pid === "number" && typeof data.started === "string") {
      return { host: data.host, pid: data.pid, started: data.started };
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
  const owner: LockOwner = { host: hostname(), pid: process.pid, started: new Date().toISOString() };
  const start = Date.now();
  const wait = options.waitTimeout;
  const pollMs = wait === "forever" ? 100 : Math.max(50, (wait * 1000) / 10);
  for (;;) {
    const found = tryAcquire(file, owner, options.logger);
    if (found === "acquired") {
      heldHere.add(file);
      return { acquired: true, lock: heldLock(file, owner) };
    }
    const waited = (Date.now() - start) / 1000;
    const deadlinePassed = wait !== "forever" && (wait <= 0 || waited >= wait);
    if (deadlinePassed || options.signal?.aborted) return { acquired: false, owner: found, waited };
    await sleep(wait === "forever" ? pollMs : Math.min(pollMs, wait * 1000 - (Date.now() - start)), options.signal);
  }
}

/** One attempt: "acquired", or the current owner (null when unreadable). */
function tryAcquire(file: string, owner: LockOwner, logger: Logger): "acquired" | LockOwner | null {
  const temp = `${file}.${owner.pid}.${randomBytes(4).toString("hex")}.tmp`;
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
    const stale =
      current === null
        ? ageMs(file) > CORRUPT_STALE_MS
        : ownerGone(current.host, current.pid, () => heldHere.has(file));
    if (!stale) return current;
    if (!takeOver(file, temp, current, logger)) return readOwner(file);
    const who = current ? `${current.host}:${current.pid}` : "an unreadable lock file";
    logger.warn(`took over a stale lock left by ${who} (that process is gone)`, { lock: file });
    return "acquired";
  } finally {
    unlinkQuietly(temp);
  }
}

/** Replaces the stale lock with ours, under the guard, only if it is still the one we judged stale. */
function takeOver(file: string, temp: string, stale: LockOwner | null, logger: Logger): boolean {
  const guard = file + ".takeover";
  for (let tries = 0; ; tries++) {
    try {
      linkSync(temp, guard);
      break;
    } catch (error) {
      if (code(error) !== "EEXIST" || tries > 0) return false;
      // Someone else is taking over right now (a takeover lasts microseconds), or died doing so.
      if (ageMs(guard) <= GUARD_STALE_MS) return false;
      logger.warn("removing a takeover guard left by a process that died", { guard });
      unlinkQuietly(guard);
    }
  }
  try {
    const now = readOwner(file);
    const unchanged = stale === null ? now === null : sameOwner(now, stale);
    if (!unchanged) return false;
    // rename() replaces the file atomically: the lock never disappears, so plain link() acquirers
    // keep getting EEXIST throughout.
    const mine = `${temp}.own`;
    linkSync(temp, mine);
    renameSync(mine, file);
    return true;
  } finally {
    unlinkQuietly(guard);
  }
}

function heldLock(file: string, owner: LockOwner): HeldLock {
  let released = false;
  return {
    path: file,
    owner,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(file);
      // Only our own lock: if it was taken over (we were thought dead), it is someone else's now.
      if (sameOwner(readOwner(file), owner)) unlinkQuietly(file);
    },
  };
}
