// Whether the don't-send list changed, whether it is empty, and which addresses are on it: statements
// written out, so that they run on an SQLite handle, on a server's pool, on a Connection without
// Kysely (queueing a message with the list empty loads none, and smtpd's RCPT TO needs none:
// connect.ts Connection) or in a Kysely transaction. Changing the list is dont-send.ts.
import type { SqliteDatabase } from "kysely";
import type { Connection, Statement } from "../connect.ts";
import { dialectOf, runOn, type StatementTarget } from "../dialect.ts";

/** The list's row in mailer_counter, bumped by a trigger on every change (migration 0004). */
export const DONT_SEND_COUNTER = "dont_send";

/** The list's change counter: equal readings mean the list is as it was. -1 when the counter row is
 * missing (a reading that never moves: the batch's list holds). Read before every send. */
export const VERSION_READ: Statement = { sql: `select value from mailer_counter where name = '${DONT_SEND_COUNTER}'`, parameters: [] };

/** The same reading as a scalar subquery, for a statement that returns it with other things (a claim). */
export const VERSION_EXPRESSION = `coalesce((${VERSION_READ.sql}), -1)`;

export const versionOf = (rows: readonly { value: number }[]) => (rows.length === 0 ? -1 : Number(rows[0]!.value));

/** The reading, synchronously on an SQLite handle. Through Kysely each reading waited for the
 * connection's mutex and a chain of promises: about 5% of a drain's main thread. */
export function dontSendVersionNow(handle: SqliteDatabase): number {
  return versionOf(handle.prepare(VERSION_READ.sql).all(VERSION_READ.parameters) as { value: number }[]);
}

/** The reading on a Connection (on a server, straight on its driver) or through Kysely. */
export async function dontSendVersion(db: StatementTarget): Promise<number> {
  return versionOf((await runOn<{ value: number }>(db, VERSION_READ)).rows);
}

const EMPTINESS_READ: Statement = { sql: "select id from mailer_dontsendentry limit 1", parameters: [] };

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

/** The lower-cased addresses among `addresses` that are on the list (matched by the key its unique
 * index has: dialect.ts dontSendKey). */
export async function suppressedAmong(db: StatementTarget, addresses: string[]): Promise<Set<string>> {
  const d = dialectOf(db);
  const wanted = [...new Set(addresses.map((a) => a.toLowerCase()))];
  const found = new Set<string>();
  // Chunked so the statement stays under every database's parameter limit.
  for (let i = 0; i < wanted.length; i += 5000) {
    const chunk = wanted.slice(i, i + 5000);
    const sql =
      `select ${d.dontSendKey} as ${d.quote("address")} from ${d.quote("mailer_dontsendentry")} ` +
      `where ${d.dontSendKey} in (${chunk.map((_, k) => d.parameter(k + 1)).join(", ")})`;
    const { rows } = await runOn<{ address: string }>(db, { sql, parameters: chunk });
    for (const row of rows) found.add(row.address);
  }
  return found;
}

/** suppressedAmong outside a transaction (smtpd's RCPT TO, `sendmail -bs`). On SQLite an empty list
 * is known without the lookup; on a server knowing it would be a round trip of its own, so the lookup
 * answers alone. */
export async function suppressedNow(db: Connection, addresses: string[]): Promise<Set<string>> {
  if (db.sqlite && dontSendListIsEmptyNow(db.sqlite)) return new Set();
  return suppressedAmong(db, addresses);
}
