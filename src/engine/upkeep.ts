// A pass's housekeeping. Before it claims: deferred messages due again go back to the queue ([retry]
// auto). Once its first claim is made (off the path from a notification to the first send, which
// runmailer-pg's latency is measured by; claims skip expired messages anyway): expired messages leave
// the queue with an `expired` log row, and old idempotency keys, day counters and record keys are
// forgotten.
import type { Config } from "../config/types.ts";
import type { Database } from "../db/connect.ts";
import { expireDue } from "../db/queries/expiry.ts";
import { pruneKeys } from "../db/queries/idempotency.ts";
import { pruneRecordKeys } from "../db/queries/claims.ts";
import { pruneDailyCounters } from "../db/queries/limits.ts";
import { errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { requeueDue } from "./retry-policy.ts";

/** Pruning is bookkeeping, not delivery: at most once a minute per process, per database. */
const PRUNE_EVERY_MS = 60_000;
const lastPruned = new Map<string, number>();
/** A record's retries are over within seconds; its key is kept far longer, at no real cost. */
const RECORD_KEYS_KEPT_MS = 24 * 3600_000;

export async function beforeClaims(db: Database, config: Config, now: Date, logger: Logger): Promise<void> {
  await requeueDue(db, config, now, logger);
}

/** Never throws: housekeeping that fails is logged and done by a later pass. */
export async function afterFirstClaim(db: Database, config: Config, now: Date, logger: Logger): Promise<void> {
  try {
    await expireAndPrune(db, config, now, logger);
  } catch (error) {
    logger.warn(`expiring messages or pruning old keys failed (a later pass tries again): ${errorText(error)}`);
  }
}

async function expireAndPrune(db: Database, config: Config, now: Date, logger: Logger): Promise<void> {
  const expired = await expireDue(db, now, config.delivery.log_message_data);
  if (expired > 0) logger.info(`${expired} message(s) expired unsent (logged as expired)`);
  if (now.getTime() - (lastPruned.get(db.url) ?? -Infinity) < PRUNE_EVERY_MS) return;
  lastPruned.set(db.url, now.getTime());
  await pruneKeys(db, new Date(now.getTime() - config.queue.idempotency_window * 1000));
  if (config.limits.daily !== null) await pruneDailyCounters(db, now);
  await pruneRecordKeys(db, new Date(now.getTime() - RECORD_KEYS_KEPT_MS));
}
