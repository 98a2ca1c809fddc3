// The idempotency ledger: one row per key, naming the message first queued with it. The primary key
// settles concurrent enqueues of one key (on PostgreSQL the second INSERT waits for the first's
// transaction, then sees its row; SQLite serialises writers), never a read-then-write race.
import { sql, type InsertQueryBuilder, type InsertResult, type Kysely, type Transaction } from "kysely";
import { dialectOf } from "../dialect.ts";
import type { Database } from "../connect.ts";
import type { DbTime, Schema } from "../schema.ts";
import { perDialect } from "../sql-text.ts";

type Db = Kysely<Schema> | Transaction<Schema>;

/** Takes `keys` for messages about to be inserted in this transaction; returns the keys taken. A key
 * is free when it has no row, or its row is older than `cutoff` and its message has left the queue
 * (a message still queued keeps its key however old). Taken rows hold queue_id 0 until
 * setKeyOwners() names the message, in the same transaction. */
export async function takeKeys(db: Db, keys: string[], cutoff: DbTime, now: DbTime): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const insert = db.insertInto("mailer_idempotencykey").values(keys.map((key) => ({ key, queue_id: 0, created_at: now })));
  if (!dialectOf(db).capabilities.onConflict) return takeKeysOnDuplicate(db, insert, keys, cutoff, now);
  const rows = await insert
    .onConflict((oc) =>
      oc
        .column("key")
        .doUpdateSet({ queue_id: 0, created_at: now })
        .where("mailer_idempotencykey.created_at", "<", cutoff)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom("mailer_message").select(sql.lit(1).as("one")).whereRef("mailer_message.id", "=", "mailer_idempotencykey.queue_id"))),
        ),
    )
    .returning("key")
    .execute();
  return new Set(rows.map((r) => r.key));
}

/** takeKeys where an upsert has no WHERE (MariaDB): the row is re-taken by setting queue_id to 0 only
 * when it is free (assignments run left to right, so created_at follows the new queue_id). The keys
 * taken are then those at queue_id 0: no committed row has it (setKeyOwners runs in the same
 * transaction), and a concurrent taker's uncommitted row held the INSERT until it committed. */
async function takeKeysOnDuplicate(
  db: Db,
  insert: InsertQueryBuilder<Schema, "mailer_idempotencykey", InsertResult>,
  keys: string[],
  cutoff: DbTime,
  now: DbTime,
): Promise<Set<string>> {
  const free = sql`(created_at < ${cutoff} and not exists (select 1 from mailer_message where mailer_message.id = mailer_idempotencykey.queue_id))`;
  await insert
    .onDuplicateKeyUpdate({
      queue_id: sql`if(${free}, 0, queue_id)`,
      created_at: sql`if(queue_id = 0, ${now}, created_at)`,
    })
    .execute();
  const rows = await db.selectFrom("mailer_idempotencykey").select("key").where("key", "in", keys).where("queue_id", "=", 0).execute();
  return new Set(rows.map((r) => r.key));
}

/** The message each of `keys` already names. */
export async function keyOwners(db: Db, keys: string[]): Promise<Map<string, number>> {
  if (keys.length === 0) return new Map();
  const rows = await db.selectFrom("mailer_idempotencykey").select(["key", "queue_id"]).where("key", "in", keys).execute();
  return new Map(rows.map((r) => [r.key, Number(r.queue_id)]));
}

export async function setKeyOwners(db: Db, owners: Array<[key: string, id: number]>): Promise<void> {
  for (const [key, id] of owners) {
    await db.updateTable("mailer_idempotencykey").set({ queue_id: id }).where("key", "=", key).execute();
  }
}

/** Forgets keys older than the cutoff (its parameter) whose message has left the queue. Written out
 * (sql-text.ts): a pass runs it once a minute, so every cron `send-mail`, empty or not, and building
 * it cost an empty one about 0.3 ms of its start-up. */
export const pruneKeysSql = perDialect(({ q, p }) =>
  `delete from ${q("mailer_idempotencykey")} where ${q("created_at")} < ${p()} and not exists ` +
  `(select 1 as ${q("one")} from ${q("mailer_message")} where ${q("mailer_message")}.${q("id")} = ${q("mailer_idempotencykey")}.${q("queue_id")})`);

/** Forgets keys older than `cutoff` whose message has left the queue (a pass does this). */
export async function pruneKeys(db: Database, cutoff: Date): Promise<number> {
  const result = await db.executeQuery({ sql: pruneKeysSql(db.dialect), parameters: [db.dialect.toDb(cutoff)] });
  return Number(result.numAffectedRows ?? 0);
}
