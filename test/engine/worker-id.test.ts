// Worker identities in claimed_by, and which of them are known dead.
import { expect, test } from "bun:test";
import { hostname } from "node:os";
import { deadLocalOwners, newWorkerId, parseWorkerId, retireWorkerId } from "../../src/engine/worker-id.ts";
import { processScope } from "../../src/process-identity.ts";

test("an identity is host:pid:tag, parsed from the right", () => {
  expect(parseWorkerId("mail-1:4242:ab12")).toEqual({ host: "mail-1", pid: 4242, tag: "ab12", boot: "", pidns: "" });
  expect(parseWorkerId("fe80::1:17:cd")).toEqual({ host: "fe80::1", pid: 17, tag: "cd", boot: "", pidns: "" });
  expect(parseWorkerId("mail-1:1:2091d3dd.4026532175.9f8e7d6c")).toEqual({
    host: "mail-1", pid: 1, tag: "2091d3dd.4026532175.9f8e7d6c", boot: "2091d3dd", pidns: "4026532175",
  });
  expect(parseWorkerId("not an id")).toBeNull();
});

test("dead means: this host, boot and PID namespace, and its process is gone (or it had our PID but is not one of ours)", () => {
  const { boot, pidns } = processScope();
  const here = (pid: number, tag: string) => `${hostname()}:${pid}:${boot}.${pidns}.${tag}`;
  const mine = newWorkerId();
  expect(mine.startsWith(here(process.pid, ""))).toBe(true);
  const dead = here(Bun.spawnSync(["true"]).pid, "aa");
  const alive = here(process.ppid, "bb");
  const ourPidEarlierLife = here(process.pid, "cc");
  const otherHost = `elsewhere:${Bun.spawnSync(["true"]).pid}:${boot}.${pidns}.dd`;
  // Another container with our host name: its PIDs mean nothing here, whether or not one is running.
  const otherNamespace = `${hostname()}:${Bun.spawnSync(["true"]).pid}:${boot}.1.ee`;
  const otherNamespaceOurPid = `${hostname()}:${process.pid}:${boot}.1.ff`;
  // Written before this machine last booted: gone, whatever its PID.
  const earlierBoot = `${hostname()}:${process.ppid}:00000000.${pidns}.gg`;
  // An older mailer's identity names no scope: left to its lease.
  const unscoped = `${hostname()}:${Bun.spawnSync(["true"]).pid}:hh`;
  const all = [mine, dead, alive, ourPidEarlierLife, otherHost, otherNamespace, otherNamespaceOurPid, earlierBoot, unscoped, "garbage"];
  expect(deadLocalOwners(all)).toEqual([dead, ourPidEarlierLife, earlierBoot]);
  retireWorkerId(mine);
  expect(deadLocalOwners([mine])).toEqual([mine]);
});
