// Who left a lock or a claim, in a form another process can judge alive or gone.
//
// A PID only means something inside one PID namespace of one boot of one machine. Two containers
// with one host name (host networking, a shared hostname, Kubernetes hostNetwork pods on one node)
// each have their own PID 1, 2, 3…: a worker that judged the other's claims by `kill(pid, 0)` would
// find them "dead" and hand its in-flight mail to a third worker, which sends it again. So every
// identity carries its scope: the kernel's boot id and the PID namespace's inode. Only an owner on
// this host, in this boot and this namespace is judged by its PID; an owner from an earlier boot is
// gone; anything else cannot be judged from here and is left to its lease (claims) or its heartbeat
// (the file lock).
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { processExists } from "./runtime.ts";

export interface ProcessScope {
  /** The first 8 hex digits of /proc/sys/kernel/random/boot_id; "" where there is none (not Linux). */
  boot: string;
  /** The PID namespace's inode, from /proc/self/ns/pid; "" where there is none. */
  pidns: string;
}

export interface ProcessIdentity extends ProcessScope {
  host: string;
  pid: number;
}

export type Liveness = "alive" | "gone" | "unknown";

let scope: ProcessScope | null = null;

/** This process's scope, read once. */
export function processScope(): ProcessScope {
  if (scope) return scope;
  let boot = "";
  let pidns = "";
  try {
    boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").replace(/[^0-9a-f]/g, "").slice(0, 8);
  } catch {
    // not Linux (or /proc is not mounted): judged as before, by host and PID alone
  }
  try {
    pidns = /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1] ?? "";
  } catch {
    // as above
  }
  return (scope = { boot, pidns });
}

export function thisProcess(): ProcessIdentity {
  return { host: hostname(), pid: process.pid, ...processScope() };
}

/** Whether `owner` still runs. `ours` says whether this process holds what `owner` left, for an owner
 * with our own PID in our own scope (an earlier life of a restarted container's PID 1 otherwise). */
export function liveness(owner: ProcessIdentity, ours: () => boolean): Liveness {
  const here = thisProcess();
  if (owner.host !== here.host) return "unknown";
  // Where we have a scope and the owner names none (an older mailer), its PID cannot be placed.
  if (owner.boot !== here.boot) return owner.boot !== "" && here.boot !== "" ? "gone" : "unknown";
  if (owner.pidns !== here.pidns) return "unknown";
  if (owner.pid === here.pid) return ours() ? "alive" : "gone";
  return processExists(owner.pid) ? "alive" : "gone";
}
