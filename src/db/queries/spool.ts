// The spool importer's ledger (migration 0002): which spool files are already in the queue.
import type { Kysely, Transaction } from "kysely";
import type { DbTime, Schema } from "../schema.ts";
import { chunks } from "./chunks.ts";

type Db = Kysely<Schema> | Transaction<Schema>;

/** The names among `names` recorded as imported. */
export async function importedAmong(db: Db, names: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const part of chunks(names, 500)) {
    const rows = await db.selectFrom("mailer_spoolimport").select("name").where("name", "in", part).execute();
    for (const row of rows) found.add(row.name);
  }
  return found;
}

/** Recorded in the transaction that queues their messages. A name recorded twice (two importers that
 * read the same file) fails the second transaction on the primary key: that is what keeps a message
 * from being queued twice. */
export async function recordImported(db: Db, names: string[]): Promise<void> {
  for (const part of chunks(names, 500)) {
    await db.insertInto("mailer_spoolimport").values(part.map((name) => ({ name }))).execute();
  }
}

/** Forget names recorded before `before` whose files are gone (`present` holds the names still in the
 * spool: a file that could not be unlinked keeps its row, or it would be imported again). */
export async function pruneImported(db: Db, before: DbTime, present: Set<string>): Promise<number> {
  const old = await db.selectFrom("mailer_spoolimport").select("name").where("imported_at", "<", before).execute();
  const gone = old.map((r) => r.name).filter((name) => !present.has(name));
  for (const part of chunks(gone, 500)) await db.deleteFrom("mailer_spoolimport").where("name", "in", part).execute();
  return gone.length;
}
