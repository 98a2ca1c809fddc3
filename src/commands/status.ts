// `mailer status`: what is queued, deferred and failed, how old the oldest is, and recent results.
import { openContext, type GlobalOptions } from "../context.ts";
import { fromDbTime } from "../db/dialect.ts";
import { logCounts } from "../db/queries/logs.ts";
import { queueCounts } from "../db/queries/messages.ts";

export async function run(_args: string[], options: GlobalOptions & { json?: boolean }): Promise<number> {
  const ctx = await openContext(options);
  try {
    const db = await ctx.database();
    const counts = await queueCounts(db.kysely);
    const log = await logCounts(db.kysely);
    const now = ctx.clock();
    const oldest = counts.oldestQueued === null ? null : fromDbTime(counts.oldestQueued);
    const queued = counts.queued[1] + counts.queued[2] + counts.queued[3];
    const status = {
      queued,
      deferred: counts.deferred,
      failed: counts.failed,
      queued_by_priority: { high: counts.queued[1], medium: counts.queued[2], low: counts.queued[3] },
      oldest_queued_age_s: oldest === null ? null : Math.max(0, Math.round((now.getTime() - oldest.getTime()) / 1000)),
      log,
      database: db.displayUrl,
    };
    if (options.json) {
      process.stdout.write(JSON.stringify(status) + "\n");
      return 0;
    }
    const lines = [
      `database   ${status.database}`,
      `queued     ${queued} (high ${status.queued_by_priority.high}, medium ${status.queued_by_priority.medium}, low ${status.queued_by_priority.low})`,
      `deferred   ${status.deferred}`,
      `failed     ${status.failed}`,
      `oldest     ${status.oldest_queued_age_s === null ? "-" : `${status.oldest_queued_age_s} s`}`,
      `log        ${log.success} success, ${log.failure} failure, ${log.dont_send} don't-send`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } finally {
    await ctx.close();
  }
}
