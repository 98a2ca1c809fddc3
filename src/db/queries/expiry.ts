// Messages past their expires_at leave the queue unsent, each with an `expired` log row. A pass does
// this once its first claim is made (upkeep.ts); a message that expires while claimed is caught
// before its send (dispatch.ts).
import type { ExpressionBuilder, SelectQueryBuilder, Transaction } from "kysely";
import type { Database } from "../connect.ts";
import { fromDbTime } from "../dialect.ts";
import type { Schema } from "../schema.ts";
import { insertLogs } from "./logs.ts";

const PER_TRANSACTION = 500;

/** Expires what is due, in transactions of a few hundred rows; returns how many. Rows under another
 * worker's live claim are left to that worker (it checks before sending). */
export async function expireDue(db: Database, now: Date, keepText: boolean): Promise<number> {
  const nowDb = db.dialect.toDb(now);
  const due = (eb: ExpressionBuilder<Schema, "mailer_message">) =>
    eb.and([
      eb("expires_at", "is not", null),
      eb("expires_at", "<=", nowDb),
      eb("status", "in", ["queued", "deferred"]),
      eb.or([eb("claimed_by", "is", null), eb("lease_until", "is", null), eb("lease_until", "<", nowDb)]),
    ]);
  // Every pass asks, and nearly always nothing is due: one plain read then, not an empty transaction
  // (BEGIN, a DELETE that finds nothing, COMMIT: three round trips on a database server).
  const anyDue = await db.kysely.selectFrom("mailer_message").select("id").where(due).limit(1).executeTakeFirst();
  if (anyDue === undefined) return 0;
  let total = 0;
  for (;;) {
    const count = await db.kysely.transaction().execute(async (trx: Transaction<Schema>) => {
      const pick = trx.selectFrom("mailer_message").select("id").where(due).limit(PER_TRANSACTION);
      let ids: SelectQueryBuilder<Schema, "mailer_message", { id: number }> | number[];
      if (db.dialect.capabilities.pickAndChange) {
        ids = db.dialect.capabilities.skipLocked ? pick.forUpdate().skipLocked() : pick;
      } else {
        // MariaDB: no LIMIT in an IN subquery, so the ids are read first. Not with a locking read:
        // InnoDB keeps a lock on every row a locking read looked at until its transaction ends, so a
        // claim in flight that read an expired row without taking it would make SKIP LOCKED pass over
        // it. The DELETE below waits for such a lock instead, and checks the row again once it has it.
        ids = (await pick.execute()).map((r) => r.id);
        if (ids.length === 0) return 0;
      }
      const gone = await trx.deleteFrom("mailer_message").where("id", "in", ids).where(due).returningAll().execute();
      await insertLogs(
        trx,
        gone.map((row) => ({
          queue_id: Number(row.id),
          message_data: keepText ? row.message_data : null,
          message_id: row.message_id || null,
          subject: row.subject,
          envelope_from: row.envelope_from,
          envelope_to: row.envelope_to,
          when_added: row.when_added,
          priority: row.priority,
          retry_count: row.retry_count,
          result: "expired" as const,
          log_message: `expired at ${fromDbTime(row.expires_at!).toISOString()} before it was sent${row.last_error ? ` (last error: ${row.last_error})` : ""}`,
        })),
      );
      return gone.length;
    });
    total += count;
    if (count < PER_TRANSACTION) return total;
  }
}
