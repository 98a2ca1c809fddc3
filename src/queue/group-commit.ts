// Group commit for callers that queue a few messages each, many at once (the HTTP API): requests that
// arrive while a transaction is committing share the next one. Each caller still returns only once
// its own messages are committed, so an acknowledgement stays a durable one; what is saved is a
// commit (an fsync, on SQLite) per request. Messages are validated per request first, so a bad one
// fails its own request and no other.
import type { EnqueueOutcome } from "./enqueue.ts";
import type { PreparedMessage } from "./prepare.ts";
import type { Queue } from "./queue.ts";

interface Waiting {
  messages: PreparedMessage[];
  resolve(outcomes: EnqueueOutcome[]): void;
  reject(error: unknown): void;
}

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
  #waiting: Waiting[] = [];
  #running = false;
  readonly #maxMessages: number;
  readonly #underway: () => number;
  readonly #gatherMs: number;

  constructor(
    private readonly queue: Queue,
    options: GroupCommitOptions = {},
  ) {
    this.#maxMessages = options.maxMessages ?? 5000;
    this.#underway = options.underway ?? (() => 0);
    this.#gatherMs = options.gatherMs ?? GATHER_MS;
  }

  /** Inserts the messages (all or none of them) in a transaction shared with other callers. */
  enqueue(messages: PreparedMessage[]): Promise<EnqueueOutcome[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ messages, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        // One turn of the event loop first: the requests that arrived while the last commit held the
        // (synchronous) SQLite connection get parsed and join this group instead of waiting for the next.
        const started = performance.now();
        do await new Promise<void>((resolve) => setImmediate(resolve));
        while (
          this.#underway() > this.#waiting.length &&
          this.#waiting.length < this.#maxMessages &&
          performance.now() - started < this.#gatherMs
        );
        const group: Waiting[] = [];
        let size = 0;
        while (this.#waiting.length > 0 && (group.length === 0 || size + this.#waiting[0]!.messages.length <= this.#maxMessages)) {
          const next = this.#waiting.shift()!;
          group.push(next);
          size += next.messages.length;
        }
        try {
          const outcomes = await this.queue.enqueuePrepared(group.flatMap((w) => w.messages), Math.max(1, size));
          let at = 0;
          for (const w of group) {
            w.resolve(outcomes.slice(at, at + w.messages.length));
            at += w.messages.length;
          }
        } catch (error) {
          // The shared transaction rolled back: nothing of any of them was queued.
          for (const w of group) w.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
