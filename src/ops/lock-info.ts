// Who holds the send lock, read from the lock file the way an operator would `cat` it: the file
// holds JSON {host, pid, started}. Reading never takes or touches the lock.
import { readFileSync } from "node:fs";
import { lockFileFor } from "../lock/file-lock.ts";
import { liveness } from "../process-identity.ts";

export interface LockHolder {
  host: string | null;
  pid: number | null;
  started: string | null;
  /** Whether that process is alive; null when it cannot be checked from here (another host, another
   * container's PID namespace). */
  alive: boolean | null;
  /** Set when the file exists but is not the JSON a mailer writes. */
  unreadable?: string;
}

export interface LockInfo {
  /** The lock file (lock.path + ".lock"). */
  path: string;
  /** lock.use_file_lock: when false, passes run without the file lock. */
  enabled: boolean;
  holder: LockHolder | null;
}

export function readLockInfo(lockPath: string, enabled: boolean): LockInfo {
  const path = lockFileFor(lockPath);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { path, enabled, holder: null };
    return { path, enabled, holder: { host: null, pid: null, started: null, alive: null, unreadable: String((error as Error).message) } };
  }
  return { path, enabled, holder: parseHolder(text) };
}

function parseHolder(text: string): LockHolder {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { host: null, pid: null, started: null, alive: null, unreadable: `not JSON: ${JSON.stringify(text.slice(0, 80))}` };
  }
  const record = (data ?? {}) as Record<string, unknown>;
  const host = typeof record.host === "string" ? record.host : null;
  const pid = typeof record.pid === "number" && Number.isInteger(record.pid) ? record.pid : null;
  const started = typeof record.started === "string" || typeof record.started === "number" ? String(record.started) : null;
  // Only a process in this boot and PID namespace on this host can be probed (process-identity.ts).
  const boot = typeof record.boot === "string" ? record.boot : "";
  const pidns = typeof record.pidns === "string" ? record.pidns : "";
  // Reading never holds the lock, so a holder with our own PID is an earlier life: gone.
  const judged = pid !== null && host !== null ? liveness({ host, pid, boot, pidns }, () => false) : "unknown";
  const alive = judged === "unknown" ? null : judged === "alive";
  return { host, pid, started, alive };
}
