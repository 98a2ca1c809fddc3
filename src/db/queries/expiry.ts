// Messages past their expires_at leave the queue unsent, each with an `expired` log row. A pass does
// this first; a message that expires while claimed is caught before its send (dispatch.ts).
import type { Transaction } from "kysely";
import type { Database } from "../connect.ts";
import { fromDbTime } from "../dialect.ts";
import type { Schema } from "../schema.ts";
import { insertLogs } from "./logs.ts";

const PER_TRANSACTION = 500;

/** Expires what is due, in transactions of a few hundred rows; returns how many. Rows under another
 * worker's live claim are left to that worker (it checks before sending). */
export async function expireDue(db: Database, now: Date, keepText: boolean): Promise<number> {
  const nowDb = db.dialect.toDb(now);
  let total = 0;
  for (;;) {
    const count = await db.kysely.transaction().execute(async (trx: Transaction<Schema>) => {
      let pick = trx
        .selectFrom("mailer_message")
        .select("id")
        .where("expires_at", "is not", null)
        .where("expires_at", "<=", nowDb)
        .where("status", "in", ["queued", "deferred"])
        .where((eb) => eb.or([eb("claimed_by", "is", null), eb("lease_until", "is", null), eb("lease_until", "<", nowDb)]))
        .limit(PER_TRANSACTION);
      if (db.dialect.capabilities.skipLocked) pick = pick.forUpdate().skipLocked();
      // Where one statement cannot pick with LIMIT and delete (MariaDB), the locked ids are read first.
      let ids: typeof pick | number[] = pick;
      if (!db.dialect.capabilities.pickAndChange) {
        ids = (await pick.execute()).map((r) => r.id);
        if (ids.length === 0) return 0;
      }
      const gone = await trx.deleteFrom("mailer_message").where("id", "in", ids).returningAll().execute();
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
