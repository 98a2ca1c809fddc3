// Messages past their expires_at leave the queue unsent, each with an `expired` log row. A pass does
// this once its first claim is made (upkeep.ts); a message that expires while claimed is caught
// before its send (dispatch.ts). Every pass asks, so the statements are written out (sql-text.ts).
import type { Selectable, Transaction } from "kysely";
import type { Database } from "../connect.ts";
import { retryDeadlocks } from "../deadlock.ts";
import { fromDbTime, runOn, type DialectInfo } from "../dialect.ts";
import type { MessageTable, Schema } from "../schema.ts";
import { perDialect, sqlText, type SqlWriter } from "../sql-text.ts";
import { leaseFree } from "./claims.ts";
import { insertLogs } from "./logs.ts";

const PER_TRANSACTION = 500;

/** Expired and not under another worker's live claim (that worker checks before sending). Its
 * parameters: dueValues. */
const due = (w: SqlWriter) =>
  `(${w.q("expires_at")} is not null and ${w.q("expires_at")} <= ${w.p()} and ${w.q("status")} in (${w.p()}, ${w.p()}) ` +
  `and ${leaseFree(w)})`;
const dueValues = (now: unknown) => [now, "queued", "deferred", now];

const pickDue = (w: SqlWriter) => `select ${w.q("id")} from ${w.q("mailer_message")} where ${due(w)} limit ${w.p()}`;

export const expirySql = {
  /** Parameters: dueValues, the limit (1 to ask whether any is due). MariaDB reads the ids to expire
   * with it first: no LIMIT in an IN subquery, and not with a locking read (InnoDB keeps a lock on
   * every row a locking read looked at until its transaction ends, so a claim in flight that read an
   * expired row without taking it would make SKIP LOCKED pass over it; the DELETE waits for such a
   * lock instead, and checks the row again). */
  pick: perDialect(pickDue),
  /** Deletes the picked rows that are still due, returning them. Parameters: dueValues and the limit
   * (the pick, in one statement where the dialect can), or the ids read by `pick`; then dueValues. */
  remove: (d: DialectInfo, idCount: number | null) =>
    sqlText(d, (w) => {
      const { q } = w;
      let ids: string;
      if (idCount !== null) ids = w.list(idCount);
      else ids = pickDue(w) + (d.capabilities.skipLocked ? " for update skip locked" : "");
      return `delete from ${q("mailer_message")} where ${q("id")} in (${ids}) and ${due(w)} returning *`;
    }),
};

/** Expires what is due, in transactions of a few hundred rows; returns how many. */
export async function expireDue(db: Database, now: Date, keepText: boolean): Promise<number> {
  const d = db.dialect;
  const values = dueValues(d.toDb(now));
  // Nearly always nothing is due: one plain read then, not an empty transaction (BEGIN, a DELETE
  // that finds nothing, COMMIT: three round trips on a database server).
  const anyDue = await db.executeQuery({ sql: expirySql.pick(d), parameters: [...values, 1] });
  if (anyDue.rows.length === 0) return 0;
  let total = 0;
  for (;;) {
    // Beside a batch's record, a deadlock's victim now and then on MariaDB: run again, not left for a later pass.
    const count = await retryDeadlocks(() => db.kysely.transaction().execute(async (trx: Transaction<Schema>) => {
      let gone: Selectable<MessageTable>[];
      if (d.capabilities.pickAndChange) {
        gone = (await runOn<Selectable<MessageTable>>(trx, { sql: expirySql.remove(d, null), parameters: [...values, PER_TRANSACTION, ...values] })).rows;
      } else {
        const ids = (await runOn<{ id: number }>(trx, { sql: expirySql.pick(d), parameters: [...values, PER_TRANSACTION] })).rows.map((r) => r.id);
        if (ids.length === 0) return 0;
        gone = (await runOn<Selectable<MessageTable>>(trx, { sql: expirySql.remove(d, ids.length), parameters: [...ids, ...values] })).rows;
      }
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
    }));
    total += count;
    if (count < PER_TRANSACTION) return total;
  }
}
