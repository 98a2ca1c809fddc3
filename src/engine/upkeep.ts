// What a pass does before it claims anything: deferred messages due again go back to the queue
// ([retry] auto), expired ones leave it with an `expired` log row, and old idempotency keys and day
// counters are forgotten.
import type { Config } from "../config/types.ts";
import type { Database } from "../db/connect.ts";
import { expireDue } from "../db/queries/expiry.ts";
import { pruneKeys } from "../db/queries/idempotency.ts";
import { pruneDailyCounters } from "../db/queries/limits.ts";
import type { Logger } from "../log.ts";
import { requeueDue } from "./retry-policy.ts";

/** Pruning is bookkeeping, not delivery: at most once a minute per process, per database. */
const PRUNE_EVERY_MS = 60_000;
const lastPruned = new Map<string, number>();

export async function beforePass(db: Database, config: Config, now: Date, logger: Logger): Promise<void> {
  await requeueDue(db, config, now, logger);
  const expired = await expireDue(db, now, config.delivery.log_message_data);
  if (expired > 0) logger.info(`${expired} message(s) expired unsent (logged as expired)`);
  if (now.getTime() - (lastPruned.get(db.url) ?? -Infinity) < PRUNE_EVERY_MS) return;
  lastPruned.set(db.url, now.getTime());
  await pruneKeys(db, new Date(now.getTime() - config.queue.idempotency_window * 1000));
  if (config.limits.daily !== null) await pruneDailyCounters(db, now);
}
