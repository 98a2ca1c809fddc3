// retry-deferred and purge-mail-log: bulk statements run from cron.
import type { Database } from "../connect.ts";
import type { LogResult, MessageStatus } from "../schema.ts";
import { chunks } from "./chunks.ts";

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

/** [retry] auto: deferred messages whose next_attempt_at has come go back to the queue, counting one
 * more retry, as retry-deferred would move them. Rows deferred without a time (auto was off, or
 * retry-deferred is how this deployment retries) are left alone. Safe with concurrent workers: the
 * `status = 'deferred'` guard makes a second worker's UPDATE skip rows the first already moved. */
export async function requeueDueDeferred(db: Database, now: Date): Promise<number> {
  const result = await db.kysely
    .updateTable("mailer_message")
    .set((eb) => ({ status: "queued", retry_count: eb("retry_count", "+", 1), next_attempt_at: null }))
    .where("status", "=", "deferred")
    .where("next_attempt_at", "is not", null)
    .where("next_attempt_at", "<=", db.dialect.toDb(now))
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Which failed messages retry-failed re-queues: all, or those named by queue id or Message-ID. */
export type FailedSelection = { all: true } | { ids: number[]; messageIds: string[] };

/** An operator's retry (retry-failed, the console's "retry" and "send now"): messages in one of
 * `statuses` (failed, by default) back to the queue for one more attempt each, now. retry_count is
 * kept: with [retry] auto a message that fails again temporarily is judged against max_retries and
 * max_lifetime as before, so an operator's retry never starts an endless schedule. */
export async function requeueFailed(
  db: Database,
  which: FailedSelection,
  statuses: MessageStatus[] = ["failed"],
): Promise<Array<{ id: number; message_id: string }>> {
  return db.kysely.transaction().execute(async (trx) => {
    let pick = trx.selectFrom("mailer_message").select(["id", "message_id"]).where("status", "in", statuses);
    if (!("all" in which)) {
      if (which.ids.length + which.messageIds.length === 0) return [];
      pick = pick.where((eb) =>
        eb.or([
          ...(which.ids.length ? [eb("id", "in", which.ids)] : []),
          ...(which.messageIds.length ? [eb("message_id", "in", which.messageIds)] : []),
        ]),
      );
    }
    const rows = await pick.execute();
    for (const part of chunks(rows.map((r) => r.id))) {
      await trx
        .updateTable("mailer_message")
        .set({ status: "queued", next_attempt_at: null })
        .where("id", "in", part)
        .where("status", "in", statuses)
        .execute();
    }
    return rows.map((r) => ({ id: Number(r.id), message_id: r.message_id }));
  });
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
