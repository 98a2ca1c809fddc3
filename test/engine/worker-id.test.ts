// Worker identities in claimed_by, and which of them are known dead.
import { expect, test } from "bun:test";
import { hostname } from "node:os";
import { deadLocalOwners, newWorkerId, parseWorkerId, retireWorkerId } from "../../src/engine/worker-id.ts";

test("an identity is host:pid:tag, parsed from the right", () => {
  expect(parseWorkerId("mail-1:4242:ab12")).toEqual({ host: "mail-1", pid: 4242, tag: "ab12" });
  expect(parseWorkerId("fe80::1:17:cd")).toEqual({ host: "fe80::1", pid: 17, tag: "cd" });
  expect(parseWorkerId("not an id")).toBeNull();
});

test("dead means: on this host, and its process is gone (or it had our PID but is not one of ours)", () => {
  const mine = newWorkerId();
  const dead = `${hostname()}:${Bun.spawnSync(["true"]).pid}:aa`;
  const alive = `${hostname()}:${process.ppid}:bb`;
  const ourPidEarlierLife = `${hostname()}:${process.pid}:cc`;
  const otherHost = `elsewhere:${Bun.spawnSync(["true"]).pid}:dd`;
  expect(deadLocalOwners([mine, dead, alive, ourPidEarlierLife, otherHost, "garbage"])).toEqual([dead, ourPidEarlierLife]);
  retireWorkerId(mine);
  expect(deadLocalOwners([mine])).toEqual([mine]);
});
