// SharedLookup: the don't-send lookups of concurrent RCPT TOs share a statement. Each caller is still
// answered from a reading made after it asked, with only its own addresses; a failed reading fails the
// callers that shared it and no later one. Then the same through smtpd's submit target on every
// database: four sessions' RCPTs at once take fewer readings than RCPTs, and each gets its own answer.
import { describe, expect, test } from "bun:test";
import { openQueue } from "../../src/index.ts";
import { queueTarget } from "../../src/intake/submit-target.ts";
import { SharedLookup } from "../../src/queue/shared-lookup.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { testQueue } from "../helpers/intake.ts";

/** A lookup that answers only when told to, and records what it was asked. */
function heldLookup(listed: string[]) {
  const asked: string[][] = [];
  const pending: Array<{ resolve(found: Set<string>): void; reject(error: unknown): void; addresses: string[] }> = [];
  const lookup = (addresses: string[]) =>
    new Promise<Set<string>>((resolve, reject) => {
      asked.push(addresses);
      pending.push({ resolve, reject, addresses });
    });
  const answer = () => {
    const next = pending.shift()!;
    next.resolve(new Set(next.addresses.map((a) => a.toLowerCase()).filter((a) => listed.includes(a))));
  };
  const fail = (error: Error) => pending.shift()!.reject(error);
  return { lookup, asked, answer, fail };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("SharedLookup", () => {
  test("the first asking is looked up at once; those that arrive meanwhile share the next reading", async () => {
    const held = heldLookup(["gone@example.com"]);
    const shared = new SharedLookup(held.lookup);
    const first = shared.among(["a@example.com"]);
    await turn();
    expect(held.asked).toEqual([["a@example.com"]]);

    const second = shared.among(["Gone@Example.com", "b@example.com"]);
    const third = shared.among(["c@example.com", "gone@example.com"]);
    await turn();
    expect(held.asked.length).toBe(1); // they wait for the reading in flight, not beside it
    held.answer();
    expect(await first).toEqual(new Set());
    await turn();
    expect(held.asked).toEqual([["a@example.com"], ["Gone@Example.com", "b@example.com", "c@example.com", "gone@example.com"]]);
    held.answer();
    // Each caller hears about its own addresses only, lower-cased, as queue.suppressedAmong answers.
    expect(await second).toEqual(new Set(["gone@example.com"]));
    expect(await third).toEqual(new Set(["gone@example.com"]));
  });

  test("a failed reading fails the callers that shared it, and the next reading is made afresh", async () => {
    const held = heldLookup(["gone@example.com"]);
    const shared = new SharedLookup(held.lookup);
    const first = shared.among(["a@example.com"]);
    await turn();
    const second = shared.among(["b@example.com"]);
    const third = shared.among(["c@example.com"]);
    held.answer();
    await first;
    await turn();
    const failures = Promise.allSettled([second, third]);
    held.fail(new Error("connection lost"));
    for (const outcome of await failures) expect(outcome).toMatchObject({ status: "rejected", reason: { message: "connection lost" } });

    const fourth = shared.among(["gone@example.com"]);
    await turn();
    held.answer();
    expect(await fourth).toEqual(new Set(["gone@example.com"]));
    expect(held.asked).toEqual([["a@example.com"], ["b@example.com", "c@example.com"], ["gone@example.com"]]);
  });
});

forEachDialect((dialect, it) => {
  it("smtpd's target answers concurrent RCPTs from shared readings of the list, each with its own addresses", async () => {
    const tq = await testQueue(dialect);
    const queue = await openQueue({ config: tq.config });
    try {
      await queue.addDontSend("gone@example.com");
      let readings = 0;
      const read = queue.suppressedAmong.bind(queue);
      queue.suppressedAmong = (addresses) => {
        readings++;
        return read(addresses);
      };
      const target = queueTarget(queue);
      const asks = [["a@example.com"], ["GONE@example.com"], ["b@example.com", "gone@example.com"], ["c@example.com"]];
      const answers = await Promise.all(asks.map((addresses) => target.suppressedAmong(addresses)!));
      expect(answers).toEqual([new Set(), new Set(["gone@example.com"]), new Set(["gone@example.com"]), new Set()]);
      expect(readings).toBe(2);

      // Taken off the list: the next RCPT's reading is made after it asked, so it sees the change.
      await queue.removeDontSend("gone@example.com");
      expect(await target.suppressedAmong(["gone@example.com"])).toEqual(new Set());
    } finally {
      await queue.close();
      await tq.cleanup();
    }
  });
});
