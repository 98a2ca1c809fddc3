// retry-deferred and purge-mail-log: bulk statements run from cron.
import type { Database } from "../connect.ts";
import type { LogResult } from "../schema.ts";

/** Deferred messages back to the queue, each counting one more retry; only those below maxRetries
 * (null = no limit). The priority is kept: unlike django-mailer, deferral is a status, not priority 4. */
export async function requeueDeferred(db: Database, maxRetries: number | null): Promise<number> {
  let query = db.kysely
    .updateTable("mailer_message")
    .set((eb) => ({ status: "queued", retry_count: eb("retry_count", "+", 1), next_attempt_at: null }))
    .where("status", "=", "deferred");
  if (maxRetries !== null) query = query.where("retry_count", "<", maxRetries);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Log rows with one of `results` attempted strictly before `before`. */
export async function purgeLogs(db: Database, before: Date, results: LogResult[]): Promise<number> {
  if (results.length === 0) return 0;
  const result = await db.kysely
    .deleteFrom("mailer_messagelog")
    .where("result", "in", results)
    .where("when_attempted", "<", db.dialect.toDb(before))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
