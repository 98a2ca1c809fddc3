// A worker's identity in mailer_message.claimed_by: `host:pid:boot.pidns.random`. Host, PID and scope
// (process-identity.ts) let a later pass in the same boot and PID namespace see that a claim's owner
// is gone (SIGKILL, OOM) and release its batch at once instead of waiting for the lease; a claim from
// an earlier boot is released too; any other owner (another host, another container's namespace) is
// left to its lease. The random part tells apart two workers that had the same PID.
import { randomHex } from "../bytes.ts";
import { liveness, thisProcess, type ProcessIdentity } from "../process-identity.ts";

/** Identities created by this process and not yet retired: never judged dead by our own passes. */
const live = new Set<string>();

export function newWorkerId(): string {
  const { host, pid, boot, pidns } = thisProcess();
  const id = `${host}:${pid}:${boot}.${pidns}.${randomHex(4)}`;
  live.add(id);
  return id;
}

export function retireWorkerId(id: string): void {
  live.delete(id);
}

/** `tag` is the part after the PID; an identity written by an older mailer (`host:pid:random`) has
 * no scope (boot and pidns ""). */
export function parseWorkerId(id: string): (ProcessIdentity & { tag: string }) | null {
  // From the right: a host name may (rarely) contain ':' but the PID and tag never do.
  const match = /^(.*):(\d+):([^:]*)$/.exec(id);
  if (!match) return null;
  const tag = match[3]!;
  const scoped = /^([0-9a-f]*)\.(\d*)\.[^.]*$/.exec(tag);
  return { host: match[1]!, pid: Number(match[2]), tag, boot: scoped?.[1] ?? "", pidns: scoped?.[2] ?? "" };
}

/** The owners among `owners` that are known to be gone. */
export function deadLocalOwners(owners: string[]): string[] {
  return owners.filter((owner) => {
    const parsed = parseWorkerId(owner);
    return parsed !== null && liveness(parsed, () => live.has(owner)) === "gone";
  });
}
