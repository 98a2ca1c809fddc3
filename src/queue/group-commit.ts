// Group commit for callers that queue a few messages each, many at once (the HTTP API): requests that
// arrive while a transaction is committing share the next one. Each caller still returns only once
// its own messages are committed, so an acknowledgement stays a durable one; what is saved is a
// commit (an fsync, on SQLite) per request. Messages are validated per request first, so a bad one
// fails its own request and no other.
import type { EnqueueOutcome } from "./enqueue.ts";
import type { PreparedMessage } from "./prepare.ts";
import type { Queue } from "./queue.ts";
import { SharedRuns } from "./shared-runs.ts";

export interface GroupCommitOptions {
  /** At most this many messages per transaction (a request's own are never split). */
  maxMessages?: number;
  /** How many submissions are underway, those waiting here included (smtpd: messages whose DATA has
   * begun and which are not answered yet). While more are underway than wait, the next commit waits
   * for them, a turn of the event loop at a time, for up to GATHER_MS: each commit costs an fsync,
   * and a client that gets its 250 only after the commit sends no next message before it. */
  underway?: () => number;
  /** The longest a commit waits for submissions underway (default GATHER_MS). */
  gatherMs?: number;
}

/** The longest a commit waits for submissions underway to join it. */
const GATHER_MS = 2;

export class GroupCommit {
  readonly #runs: SharedRuns<PreparedMessage[], EnqueueOutcome[]>;

  constructor(queue: Queue, options: GroupCommitOptions = {}) {
    const maxMessages = options.maxMessages ?? 5000;
    const underway = options.underway ?? (() => 0);
    const gatherMs = options.gatherMs ?? GATHER_MS;
    this.#runs = new SharedRuns(
      async (requests) => {
        const outcomes = await queue.enqueuePrepared(requests.flat(), Math.max(1, requests.reduce((n, r) => n + r.length, 0)));
        let at = 0;
        return requests.map((r) => outcomes.slice(at, (at += r.length)));
      },
      {
        // One turn of the event loop first: the requests that arrived while the last commit held the
        // (synchronous) SQLite connection get parsed and join this group instead of waiting for the next.
        gather: async () => {
          const started = performance.now();
          do await new Promise<void>((resolve) => setImmediate(resolve));
          while (underway() > this.#runs.waiting && this.#runs.waiting < maxMessages && performance.now() - started < gatherMs);
        },
        // Whole requests, up to maxMessages in all (a request larger than that goes alone).
        take: (requests) => {
          let count = 0;
          let size = 0;
          while (count < requests.length && (count === 0 || size + requests[count]!.length <= maxMessages)) size += requests[count++]!.length;
          return count;
        },
      },
    );
  }

  /** Inserts the messages (all or none of them) in a transaction shared with other callers. If the
   * shared transaction rolls back, nothing of any of its requests was queued. */
  enqueue(messages: PreparedMessage[]): Promise<EnqueueOutcome[]> {
    return this.#runs.request(messages);
  }
}
