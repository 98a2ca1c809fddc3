// GroupCommit shares a transaction among callers; with `underway` it waits for the submissions it is
// told are on their way (smtpd's messages in DATA), so that concurrent sessions share one commit
// instead of one each. The queue here records its calls: each call is one transaction.
import { describe, expect, test } from "bun:test";
import { GroupCommit } from "../../src/queue/group-commit.ts";
import type { PreparedMessage } from "../../src/queue/prepare.ts";
import type { Queue } from "../../src/queue/queue.ts";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function recordingQueue() {
  const commits: string[][] = [];
  const queue = {
    async enqueuePrepared(messages: PreparedMessage[]) {
      commits.push(messages.map((m) => m.messageId));
      return messages.map((m, i) => ({ id: commits.length * 100 + i, messageId: m.messageId, envelopeFrom: "", priority: 2, recipients: [], suppressed: [] }));
    },
  } as unknown as Queue;
  return { queue, commits };
}

const message = (id: string) => ({ messageId: id }) as PreparedMessage;

describe("GroupCommit", () => {
  test("messages underway join the commit: three arriving on three turns share one", async () => {
    const { queue, commits } = recordingQueue();
    let underway = 3;
    // A budget no loaded machine can use up between two turns: the test is about who waits for whom.
    const group = new GroupCommit(queue, { underway: () => underway, gatherMs: 60_000 });
    const first = group.enqueue([message("a")]);
    await turn();
    const second = group.enqueue([message("b")]);
    await turn();
    await turn();
    const third = group.enqueue([message("c")]);
    const outcomes = await Promise.all([first, second, third]);
    underway = 0;
    expect(commits).toEqual([["a", "b", "c"]]);
    // Each caller still gets its own message's outcome.
    expect(outcomes.map(([o]) => o!.messageId)).toEqual(["a", "b", "c"]);
  });

  test("without underway, the first arrival is committed after one turn (the others share the next)", async () => {
    const { queue, commits } = recordingQueue();
    const group = new GroupCommit(queue);
    const first = group.enqueue([message("a")]);
    await turn();
    await turn();
    const second = group.enqueue([message("b")]);
    await Promise.all([first, second]);
    expect(commits).toEqual([["a"], ["b"]]);
  });

  test("a commit takes whole requests up to maxMessages, oldest first; a larger request goes alone; each gets its own outcomes", async () => {
    const { queue, commits } = recordingQueue();
    const group = new GroupCommit(queue, { maxMessages: 3 });
    const requests = [["a", "b"], ["c"], ["d", "e"], ["f", "g", "h", "i"], ["j"]].map((ids) => group.enqueue(ids.map(message)));
    const outcomes = await Promise.all(requests);
    expect(commits).toEqual([["a", "b", "c"], ["d", "e"], ["f", "g", "h", "i"], ["j"]]);
    expect(outcomes.map((o) => o.map((x) => x.messageId))).toEqual([["a", "b"], ["c"], ["d", "e"], ["f", "g", "h", "i"], ["j"]]);
  });

  test("a commit that fails fails the requests it held, and no later one", async () => {
    let calls = 0;
    const queue = {
      async enqueuePrepared(messages: PreparedMessage[]) {
        if (++calls === 1) throw new Error("disk full");
        return messages.map((m) => ({ id: 1, messageId: m.messageId }));
      },
    } as unknown as Queue;
    const group = new GroupCommit(queue, { maxMessages: 1 });
    const [failed, later] = await Promise.allSettled([group.enqueue([message("a")]), group.enqueue([message("b")])]);
    expect(failed.status === "rejected" && (failed.reason as Error).message).toBe("disk full");
    expect(later.status === "fulfilled" && later.value[0]!.messageId).toBe("b");
  });

  test("a submission announced but never sent holds a commit back only briefly", async () => {
    const { queue, commits } = recordingQueue();
    const group = new GroupCommit(queue, { underway: () => 5 });
    const [outcome] = await group.enqueue([message("alone")]);
    expect(outcome!.messageId).toBe("alone");
    expect(commits).toEqual([["alone"]]);
  });
});
