// Lease renewal for a batch in flight. A claim is a lease (delivery.lease seconds) so that a crashed
// worker's mail is taken over; a *slow* worker must not be mistaken for a crashed one. While a batch
// is being sent, its claims are renewed every lease/3, so each stays at least 2/3 of a lease ahead
// of the clock: one failed renewal (a database hiccup) still leaves time for the next.
//
// The renewal covers the whole batch, not just the sends in flight: a message already sent but not
// yet recorded (outcomes are written once per batch) is as exposed to a takeover as one mid-send.
// It stops before the batch is recorded; recording follows at once, well inside the renewed lease.
import type { Database } from "../db/connect.ts";
import { renewLeases } from "../db/queries/claims.ts";
import { errorText } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface LeaseKeeperOptions {
  db: Database;
  worker: string;
  ids: number[];
  leaseMs: number;
  clock: () => Date;
  logger: Logger;
}

export interface LeaseKeeper {
  /** Stops renewing; waits for a renewal in progress so it cannot land after the batch is recorded. */
  stop(): Promise<void>;
}

export function keepLeases(options: LeaseKeeperOptions): LeaseKeeper {
  const { db, worker, ids, leaseMs, clock, logger } = options;
  let stopped = false;
  let lost = 0;
  let running: Promise<void> = Promise.resolve();
  const renew = async () => {
    if (stopped) return;
    try {
      const kept = await renewLeases(db, worker, ids, new Date(clock().getTime() + leaseMs));
      logger.debug("renewed the batch's leases", { count: kept });
      if (ids.length - kept > lost) {
        lost = ids.length - kept;
        // Only possible when a renewal came later than the lease (the process was frozen, or the
        // database unreachable for a whole lease): another worker may send those messages too.
        logger.warn(`${lost} claim(s) of this batch expired and were taken over before they could be renewed`, { worker });
      }
    } catch (error) {
      logger.warn(`renewing the batch's leases failed (retrying at the next renewal): ${errorText(error)}`, { worker });
    }
  };
  // Renewals are chained, never overlapping: a slow database must not pile them up.
  const timer = setInterval(() => (running = running.then(renew)), leaseMs / 3);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
