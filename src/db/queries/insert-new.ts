// INSERT of rows whose key may exist already: those are skipped, not an error, and the count of rows
// really inserted comes back. ON CONFLICT DO NOTHING where the database has it; MariaDB's INSERT
// IGNORE otherwise (its ON DUPLICATE KEY UPDATE reports a skipped row as affected, so it cannot
// tell the two apart).
import type { Insertable, Kysely, Transaction } from "kysely";
import { dialectOf } from "../dialect.ts";
import type { Schema } from "../schema.ts";

type Db = Kysely<Schema> | Transaction<Schema>;

export async function insertNew<T extends keyof Schema & string>(
  db: Db,
  table: T,
  rows: Insertable<Schema[T]> | Insertable<Schema[T]>[],
  /** The unique key's columns; none for a unique index on an expression. */
  key: ReadonlyArray<string> = [],
): Promise<number> {
  let insert = db.insertInto(table).values(rows as never);
  insert = dialectOf(db).capabilities.onConflict
    ? insert.onConflict((oc) => (key.length > 0 ? oc.columns(key as never) : oc).doNothing())
    : insert.ignore();
  const result = await insert.executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0);
}
