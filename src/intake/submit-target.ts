// Where a submission goes: straight into the queue (a process that may open the database), or into
// the spool ([queue] spool set), for any local user, without opening the database or reading a secret.
// sendmail, `sendmail -bs` and smtpd hand every message to one of these.
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { LocalRouting, type Routing } from "../queue/local-routing.ts";
import { GroupCommit, type GroupCommitOptions } from "../queue/group-commit.ts";
import { Queue, SuppressedError } from "../queue/queue.ts";
import { SharedLookup } from "../queue/shared-lookup.ts";
import { dropInSpool } from "./spool.ts";
import { prepareSubmission, type Submission } from "./submission.ts";

export interface SubmitTarget {
  readonly routing: Routing;
  readonly maxSize: number;
  /** Queue (or spool) one message; resolves with its queue id or spool file name, and whether it
   * was a duplicate (its idempotency key was queued already: `id` is the first message's, nothing
   * new was queued). Bad input throws DataError before anything is stored. */
  submit(sub: Submission): Promise<{ id: string; duplicate: boolean }>;
  /** Which of these addresses are on the don't-send list; null where the list cannot be read (the
   * spool: the importer applies it). */
  suppressedAmong(addresses: string[]): Promise<Set<string>> | null;
  close(): Promise<void>;
}

export function submitTarget(config: Config, logger: Logger): SubmitTarget {
  return config.queue.spool ? spoolTarget(config, config.queue.spool) : queueTarget(new Queue(config, logger));
}

/** `underway`: the intake's messages in DATA and not answered yet (GroupCommit waits for them). */
export function queueTarget(queue: Queue, options: Pick<GroupCommitOptions, "underway"> = {}): SubmitTarget {
  // Concurrent SMTP sessions' messages are committed together, as the HTTP API's are (each still
  // answered only after its commit); a bad message is refused before it joins, so it fails no other.
  // Their RCPT TOs' don't-send lookups are shared the same way.
  const group = new GroupCommit(queue, options);
  const lookup = new SharedLookup((addresses) => queue.suppressedAmong(addresses));
  return {
    routing: queue.routing,
    maxSize: queue.maxSize,
    async submit(sub) {
      const [outcome] = await group.enqueue([prepareSubmission(sub, { routing: queue.routing, maxSize: queue.maxSize })]);
      if (!outcome || outcome.id === null) throw new SuppressedError(outcome?.suppressed ?? []);
      return { id: String(outcome.id), duplicate: outcome.duplicate === true };
    },
    suppressedAmong: (addresses) => lookup.among(addresses),
    close: () => queue.close(),
  };
}

function spoolTarget(config: Config, dir: string): SubmitTarget {
  const routing = new LocalRouting(config.queue);
  const maxSize = config.queue.max_size;
  return {
    routing,
    maxSize,
    async submit(sub) {
      // Prepared now only to check it: the submitter hears about a bad message (exit 65), not the
      // importer. The spool keeps the submission as given; the importer prepares it again with the
      // identity the file's owner vouches for.
      prepareSubmission(sub, { routing, maxSize });
      // A duplicate key is found when the importer queues it (it then queues nothing).
      return { id: await dropInSpool(dir, sub), duplicate: false };
    },
    suppressedAmong: () => null,
    close: async () => {},
  };
}
