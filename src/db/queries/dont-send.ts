// The suppression list. Matching is case-insensitive on the bare address (django-mailer's iexact).
import type { Kysely, SqliteDatabase, Transaction } from "kysely";
import { CompiledQuery, sql } from "kysely";
import type { Connection, Database, Statement } from "../connect.ts";
import type { Schema } from "../schema.ts";
import { DONT_SEND_COUNTER } from "../migrations/0004-send-time-checks.ts";
import { dialectOf } from "../dialect.ts";
import { insertNew } from "./insert-new.ts";

type Db = Kysely<Schema> | Transaction<Schema>;

/** The lower-cased addresses among `addresses` that are on the list. */
export async function suppressedAmong(db: Db, addresses: string[]): Promise<Set<string>> {
  const wanted = [...new Set(addresses.map((a) => a.toLowerCase()))];
  const found = new Set<string>();
  const key = dialectOf(db).dontSendKey;
  // Chunked so the statement stays under every database's parameter limit.
  for (let i = 0; i < wanted.length; i += 5000) {
    const chunk = wanted.slice(i, i + 5000);
    const rows = await db
      .selectFrom("mailer_dontsendentry")
      .select(key.as("address"))
      .where(key, "in", chunk)
      .execute();
    for (const row of rows) found.add(row.address);
  }
  return found;
}

/** The list's change counter (bumped by a trigger on every change): equal readings mean the list is
 * as it was. -1 when the counter row is missing (a reading that never moves: the batch's list holds).
 * Read before every send. Written out, the same text on every database, so that it runs on an SQLite
 * handle or a server's pool without Kysely as well. */
const VERSION_READ: Statement = { sql: `select value from mailer_counter where name = '${DONT_SEND_COUNTER}'`, parameters: [] };

const VERSION_QUERY = CompiledQuery.raw(VERSION_READ.sql) as CompiledQuery<{ value: number }>;

export async function dontSendVersion(db: Db): Promise<number> {
  const { rows } = await db.executeQuery(VERSION_QUERY);
  return versionOf(rows);
}

/** The same reading, synchronously on an SQLite handle. Through Kysely each reading waited for the
 * connection's mutex and a chain of promises: about 5% of a drain's main thread. */
export function dontSendVersionNow(handle: SqliteDatabase): number {
  return versionOf(handle.prepare(VERSION_READ.sql).all(VERSION_READ.parameters) as { value: number }[]);
}

/** The same reading on a server's pool without Kysely's query pipeline (Database.readRows). */
export async function dontSendVersionDirect(readRows: NonNullable<Database["readRows"]>): Promise<number> {
  return versionOf(await readRows<{ value: number }>(VERSION_READ));
}

const versionOf = (rows: readonly { value: number }[]) => (rows.length === 0 ? -1 : Number(rows[0]!.value));

/** The same reading as a scalar subquery, for a statement that returns it with other things. */
export const dontSendVersionExpression = sql<number>`coalesce((select value from mailer_counter where name = ${sql.lit(DONT_SEND_COUNTER)}), -1)`;

/** True when the list is empty: the common case skips the lookup entirely. On SQLite the answer is
 * kept with the list's change counter, read synchronously as before each send, and looked up again
 * only once the counter has moved: smtpd asks at every RCPT TO and again at every commit, and through
 * Kysely each asking cost more than the rest of the recipient's handling. */
export async function dontSendListIsEmpty(db: Connection): Promise<boolean> {
  if (db.sqlite) return dontSendListIsEmptyNow(db.sqlite);
  return (await db.executeQuery(EMPTINESS_READ)).rows.length === 0;
}

/** The list's emptiness as last looked up, per SQLite handle, with the counter read before it. */
const emptiness = new WeakMap<SqliteDatabase, { version: number; empty: boolean }>();

function dontSendListIsEmptyNow(handle: SqliteDatabase): boolean {
  // The counter first: a change that lands between the two readings moves it, so the next asking
  // looks again. A missing counter row (-1) never moves: then every asking looks.
  const version = dontSendVersionNow(handle);
  const known = emptiness.get(handle);
  if (version !== -1 && known?.version === version) return known.empty;
  const empty = handle.prepare(EMPTINESS_READ.sql).all(EMPTINESS_READ.parameters).length === 0;
  if (version !== -1) emptiness.set(handle, { version, empty });
  return empty;
}

const EMPTINESS_READ: Statement = { sql: "select id from mailer_dontsendentry limit 1", parameters: [] };

/** suppressedAmong outside a transaction (smtpd's RCPT TO). On SQLite an empty list is known without
 * the lookup; on a server knowing it would be a round trip of its own, so the lookup answers alone. */
export async function suppressedNow(db: Connection, addresses: string[]): Promise<Set<string>> {
  if (db.sqlite && dontSendListIsEmptyNow(db.sqlite)) return new Set();
  return suppressedAmong((await db.database()).kysely, addresses);
}

/** False when the address (in any case) is already listed. The unique index on its lower-cased form
 * makes two concurrent adds of one address safe. */
export async function addDontSend(db: Db, address: string): Promise<boolean> {
  return (await insertNew(db, "mailer_dontsendentry", { to_address: address })) > 0;
}

export async function removeDontSend(db: Db, address: string): Promise<boolean> {
  const result = await db
    .deleteFrom("mailer_dontsendentry")
    .where(dialectOf(db).dontSendKey, "=", address.toLowerCase())
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function listDontSend(db: Db) {
  return db.selectFrom("mailer_dontsendentry").select(["to_address", "when_added"]).orderBy("to_address").execute();
}
