// The suppression list. Matching is case-insensitive on the bare address (django-mailer's iexact).
// Whether it changed or is empty, and the lookup of addresses on it, which need no Kysely, are
// dont-send-state.ts.
import type { Kysely, Transaction } from "kysely";
import { sql } from "kysely";
import type { Schema } from "../schema.ts";
import { dialectOf } from "../dialect.ts";
import { insertNew } from "./insert-new.ts";

type Db = Kysely<Schema> | Transaction<Schema>;

/** False when the address (in any case) is already listed. The unique index on its lower-cased form
 * makes two concurrent adds of one address safe. */
export async function addDontSend(db: Db, address: string): Promise<boolean> {
  return (await insertNew(db, "mailer_dontsendentry", { to_address: address })) > 0;
}

export async function removeDontSend(db: Db, address: string): Promise<boolean> {
  const result = await db
    .deleteFrom("mailer_dontsendentry")
    .where(sql.raw<string>(dialectOf(db).dontSendKey), "=", address.toLowerCase())
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function listDontSend(db: Db) {
  return db.selectFrom("mailer_dontsendentry").select(["to_address", "when_added"]).orderBy("to_address").execute();
}
