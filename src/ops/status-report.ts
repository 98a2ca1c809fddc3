// The facts `mailer status` reports, gathered into one plain object. Its JSON form is the
// monitoring interface of SPEC §6: the first four fields are fixed; the rest may grow.
import type { Config } from "../config/types.ts";
import type { Database } from "../db/connect.ts";
import { fromDbTime } from "../db/dialect.ts";
import { schemaState } from "../db/migrate.ts";
import { dueTotal, logWindowCounts, queueSummary } from "../db/queries/inspect.ts";
import type { LogResult } from "../db/schema.ts";
import { spoolCounts } from "../intake/spool.ts";
import { readLockInfo, type LockInfo } from "./lock-info.ts";
import { limitsReport, type LimitReport } from "./limits-report.ts";

export interface StatusReport {
  /** What a pass would send now: status 'queued' and due. */
  queued: number;
  deferred: number;
  oldest_queued_age_s: number | null;
  /** All-time log counts. */
  log: Record<LogResult, number>;
  failed: number;
  queued_by_priority: { high: number; medium: number; low: number };
  /** Queued with next_attempt_at in the future: not sendable yet, not counted in `queued`. */
  queued_waiting: number;
  /** Of those, waiting for their send-at time (or an automatic retry's). */
  scheduled: number;
  /** Of those, put back by a limit of [limits] until it allows them. */
  rate_limited: number;
  /** Each limit of [limits]: what it allows, where it stands, what it lets through. */
  limits: LimitReport[];
  /** Claimed by a worker with a live lease (being delivered now). */
  claimed: number;
  /** ISO-8601: the earliest next_attempt_at of queued or deferred messages, or null. */
  next_retry_at: string | null;
  log_last_hour: Record<LogResult, number>;
  log_last_day: Record<LogResult, number>;
  lock: LockInfo;
  /** The latest applied migration. */
  schema_version: string | null;
  /** [queue] spool: files waiting for a pass to import them, and files set aside (NAME.bad); null
   * when there is no spool (or it cannot be listed). Waiting files that pile up mean no pass runs. */
  spool: { waiting: number; set_aside: number } | null;
  /** The URL with its password masked. */
  database: string;
  dialect: string;
  /** When this report was taken (ISO-8601). */
  now: string;
}

const HOUR_MS = 3_600_000;

export async function statusReport(db: Database, config: Config, now: Date): Promise<StatusReport> {
  const toDb = db.dialect.toDb;
  const queue = await queueSummary(db.kysely, toDb(now));
  const log = await logWindowCounts(db.kysely, toDb(new Date(now.getTime() - HOUR_MS)), toDb(new Date(now.getTime() - 24 * HOUR_MS)));
  const schema = await schemaState(db);
  const oldest = fromDbTime(queue.oldestDue);
  return {
    queued: dueTotal(queue),
    deferred: queue.deferred,
    // Clamped at 0: a row stamped by a database clock slightly ahead of ours is not "negative" old.
    oldest_queued_age_s: oldest === null ? null : Math.max(0, Math.floor((now.getTime() - oldest.getTime()) / 1000)),
    log: log.all,
    failed: queue.failed,
    queued_by_priority: { high: queue.due[1], medium: queue.due[2], low: queue.due[3] },
    queued_waiting: queue.waiting,
    scheduled: queue.waiting - queue.limited,
    rate_limited: queue.limited,
    limits: await limitsReport(db, config.limits, now),
    claimed: queue.claimed,
    next_retry_at: queue.nextAttempt === null ? null : fromDbTime(queue.nextAttempt).toISOString(),
    log_last_hour: log.hour,
    log_last_day: log.day,
    lock: readLockInfo(config.lock.path, config.lock.use_file_lock),
    schema_version: schema.applied.at(-1) ?? null,
    spool: spoolCounts(config.queue.spool),
    database: db.displayUrl,
    dialect: db.dialect.label,
    now: now.toISOString(),
  };
}
