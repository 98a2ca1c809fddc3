// A worker's identity in mailer_message.claimed_by: `host:pid:random`. The host and PID let any later
// pass on the same host see that a claim's owner is gone (SIGKILL, OOM, power cut) and release its
// batch at once instead of waiting for the lease; the random part tells apart two workers that had
// the same PID (a restarted container is PID 1 again).
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { ownerGone } from "../runtime.ts";

/** Identities created by this process and not yet retired: never judged dead by our own passes. */
const live = new Set<string>();

export function newWorkerId(): string {
  const id = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  live.add(id);
  return id;
}

export function retireWorkerId(id: string): void {
  live.delete(id);
}

export function parseWorkerId(id: string): { host: string; pid: number; tag: string } | null {
  // From the right: a host name may (rarely) contain ':' but the PID and tag never do.
  const match = /^(.*):(\d+):([^:]*)$/.exec(id);
  return match ? { host: match[1]!, pid: Number(match[2]), tag: match[3]! } : null;
}

/** The owners among `owners` that ran on this host and whose process is gone. Other hosts' claims
 * are left to their lease: a PID means nothing across machines. */
export function deadLocalOwners(owners: string[]): string[] {
  return owners.filter((owner) => {
    const parsed = parseWorkerId(owner);
    return parsed !== null && ownerGone(parsed.host, parsed.pid, () => live.has(owner));
  });
}
