// An operator's changes to chosen messages (the console's actions; retry is maintenance.ts's
// requeueFailed, shared with `mailer retry-failed`). Each takes the ids of one chunk.
import type { Database } from "../connect.ts";
import { chunks } from "./chunks.ts";
import { splitRecipients } from "./messages.ts";

export async function setPriority(db: Database, ids: number[], priority: 1 | 2 | 3): Promise<number> {
  let changed = 0;
  for (const part of chunks(ids)) {
    const result = await db.kysely.updateTable("mailer_message").set({ priority }).where("id", "in", part).executeTakeFirst();
    changed += Number(result.numUpdatedRows);
  }
  return changed;
}

/** Deletes the messages no worker is sending right now: a message under a live lease may be on the
 * wire, and deleting it would only hide that it went out. Returns { deleted, busy }. */
export async function deleteMessages(db: Database, ids: number[], now: Date): Promise<{ deleted: number; busy: number }> {
  const nowDb = db.dialect.toDb(now);
  let deleted = 0;
  for (const part of chunks(ids)) {
    const result = await db.kysely
      .deleteFrom("mailer_message")
      .where("id", "in", part)
      .where((eb) => eb.or([eb("claimed_by", "is", null), eb("lease_until", "is", null), eb("lease_until", "<", nowDb)]))
      .executeTakeFirst();
    deleted += Number(result.numDeletedRows);
  }
  const left = await countExisting(db, ids);
  return { deleted, busy: left };
}

async function countExisting(db: Database, ids: number[]): Promise<number> {
  let n = 0;
  for (const part of chunks(ids)) {
    const rows = await db.kysely.selectFrom("mailer_message").select("id").where("id", "in", part).execute();
    n += rows.length;
  }
  return n;
}

/** The envelope recipients of these messages, each once (lower-cased). */
export async function recipientsOf(db: Database, ids: number[]): Promise<string[]> {
  const found = new Map<string, string>();
  for (const part of chunks(ids)) {
    const rows = await db.kysely.selectFrom("mailer_message").select("envelope_to").where("id", "in", part).execute();
    for (const row of rows) for (const address of splitRecipients(row.envelope_to)) found.set(address.toLowerCase(), address);
  }
  return [...found.values()];
}
