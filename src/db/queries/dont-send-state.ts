// Whether the don't-send list changed, and whether it is empty: statements written out, the same text
// on every database, so that they run on an SQLite handle, on a server's pool, or on a Connection
// without Kysely (queueing a message with the list empty loads none: connect.ts Connection). The list
// itself is dont-send.ts.
import type { SqliteDatabase } from "kysely";
import type { Connection, Database, Statement } from "../connect.ts";

/** The list's row in mailer_counter, bumped by a trigger on every change (migration 0004). */
export const DONT_SEND_COUNTER = "dont_send";

/** The list's change counter: equal readings mean the list is as it was. -1 when the counter row is
 * missing (a reading that never moves: the batch's list holds). Read before every send. */
export const VERSION_READ: Statement = { sql: `select value from mailer_counter where name = '${DONT_SEND_COUNTER}'`, parameters: [] };

export const versionOf = (rows: readonly { value: number }[]) => (rows.length === 0 ? -1 : Number(rows[0]!.value));

/** The reading, synchronously on an SQLite handle. Through Kysely each reading waited for the
 * connection's mutex and a chain of promises: about 5% of a drain's main thread. */
export function dontSendVersionNow(handle: SqliteDatabase): number {
  return versionOf(handle.prepare(VERSION_READ.sql).all(VERSION_READ.parameters) as { value: number }[]);
}

/** The reading on a server's pool without Kysely's query pipeline (Database.readRows). */
export async function dontSendVersionDirect(readRows: NonNullable<Database["readRows"]>): Promise<number> {
  return versionOf(await readRows<{ value: number }>(VERSION_READ));
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

/** dont-send.ts suppressedAmong outside a transaction (smtpd's RCPT TO, `sendmail -bs`). On SQLite an
 * empty list is known without the lookup (or Kysely); on a server knowing it would be a round trip of
 * its own, so the lookup answers alone. */
export async function suppressedNow(db: Connection, addresses: string[]): Promise<Set<string>> {
  if (db.sqlite && dontSendListIsEmptyNow(db.sqlite)) return new Set();
  const [{ suppressedAmong }, { kysely }] = await Promise.all([import("./dont-send.ts"), db.database()]);
  return suppressedAmong(kysely, addresses);
}
