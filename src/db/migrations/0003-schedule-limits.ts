// Send later, expire, deduplicate, and rate limits shared by every worker (SPEC §2 [limits], §4.5).
//
// - mailer_message.expires_at: a message still unsent then is dropped and logged `expired`.
//   (Send-at needs no column: next_attempt_at already keeps a queued message back until its time.)
// - mailer_message.limited_by: the limit a queued message is waiting for (a rate-limited message is
//   kept back with next_attempt_at, not deferred; this says why, for status and the console).
// - mailer_messagelog.result gains 'expired'. SQLite cannot alter a CHECK constraint: the log table
//   is rebuilt (copied) inside the migration's transaction.
// - mailer_idempotencykey: one row per idempotency key, unique, so that concurrent enqueues of one
//   key queue one message (the loser reads the winner's id) whatever the isolation level.
// - mailer_ratelimit: one token bucket (or one day's counter) per limit, updated in one statement.
// - mailer_limitslot: the concurrency slots of a per-domain limit, each held by one worker at a time.
import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { DialectInfo } from "../dialect.ts";
import { indexOfSet, sqlOf, withTableOptions } from "../dialect-sql.ts";

export const LOG_RESULTS_BEFORE = ["success", "dont_send", "failure"];
export const LOG_RESULTS = [...LOG_RESULTS_BEFORE, "expired"];
const resultCheck = (results: string[]) => sql`result in (${sql.join(results.map((r) => sql.lit(r)))})`;

export function scheduleAndLimits(d: DialectInfo): Migration {
  const { types } = d;
  const { now } = sqlOf(d);
  const queueIdType = sql.raw(d.capabilities.skipLocked ? "bigint" : "integer");
  const key = sql.raw(types.key);
  // The CHECK on mailer_messagelog.result: 0001 wrote it on the column, this migration replaces it
  // with a table constraint of this name.
  const RESULT_CHECK = "mailer_messagelog_result_check";
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable("mailer_message").addColumn("expires_at", sql.raw(types.time)).execute();
      await db.schema.alterTable("mailer_message").addColumn("limited_by", key).execute();
      // The expiry sweep at the start of each pass, and the wake-up for the earliest due message:
      // both look at the few rows that have a time, not the whole queue.
      await db.schema
        .createIndex("mailer_message_expires_at_idx")
        .on("mailer_message")
        .column("expires_at")
        .$call(indexOfSet(d, "expires_at"))
        .execute();
      await db.schema
        .createIndex("mailer_message_next_attempt_at_idx")
        .on("mailer_message")
        .column("next_attempt_at")
        .$call(indexOfSet(d, "next_attempt_at"))
        .execute();

      if (d.capabilities.alterConstraints) {
        await sqlOf(d).dropColumnCheck("mailer_messagelog", "result", types.key).execute(db);
        await sql`alter table mailer_messagelog add constraint ${sql.id(RESULT_CHECK)} check (${resultCheck(LOG_RESULTS)})`.execute(db);
      } else {
        await rebuildLogTable(db, d, LOG_RESULTS);
      }

      await db.schema
        .createTable("mailer_idempotencykey")
        .addColumn("key", key, (c) => c.primaryKey())
        .addColumn("queue_id", queueIdType, (c) => c.notNull())
        .addColumn("created_at", sql.raw(types.time), (c) => c.notNull().defaultTo(now))
        .$call(withTableOptions(d))
        .execute();
      await db.schema.createIndex("mailer_idempotencykey_created_at_idx").on("mailer_idempotencykey").column("created_at").execute();

      await db.schema
        .createTable("mailer_ratelimit")
        .addColumn("name", key, (c) => c.primaryKey())
        // A token bucket: tokens left at updated_at (epoch seconds, the database's clock). A daily
        // counter: messages counted so far that day.
        .addColumn("tokens", sql.raw(types.real), (c) => c.notNull())
        .addColumn("updated_at", sql.raw(types.real), (c) => c.notNull())
        .addColumn("granted", "integer", (c) => c.notNull().defaultTo(0))
        .$call(withTableOptions(d))
        .execute();

      await db.schema
        .createTable("mailer_limitslot")
        .addColumn("name", key, (c) => c.notNull())
        .addColumn("slot", "integer", (c) => c.notNull())
        .addColumn("holder", key)
        .addColumn("lease_until", sql.raw(types.time))
        .addPrimaryKeyConstraint("mailer_limitslot_pkey", ["name", "slot"])
        .$call(withTableOptions(d))
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("mailer_limitslot").execute();
      await db.schema.dropTable("mailer_ratelimit").execute();
      await db.schema.dropTable("mailer_idempotencykey").execute();
      await sql`delete from mailer_messagelog where result = 'expired'`.execute(db);
      if (d.capabilities.alterConstraints) {
        await sql`alter table mailer_messagelog drop constraint ${sql.id(RESULT_CHECK)}`.execute(db);
        await sql`alter table mailer_messagelog add constraint ${sql.id(RESULT_CHECK)} check (${resultCheck(LOG_RESULTS_BEFORE)})`.execute(db);
      } else {
        await rebuildLogTable(db, d, LOG_RESULTS_BEFORE);
      }
      await sql`drop index mailer_message_next_attempt_at_idx${sqlOf(d).indexTableClause("mailer_message")}`.execute(db);
      await sql`drop index mailer_message_expires_at_idx${sqlOf(d).indexTableClause("mailer_message")}`.execute(db);
      await db.schema.alterTable("mailer_message").dropColumn("limited_by").execute();
      await db.schema.alterTable("mailer_message").dropColumn("expires_at").execute();
    },
  };
}

/** SQLite's way to change a CHECK constraint (https://sqlite.org/lang_altertable.html, "making other
 * kinds of table schema changes"): a new table, the rows copied, the old one dropped, the new one
 * renamed, the indexes made again. Ids are kept, and so is the AUTOINCREMENT counter: an id once
 * used (its row since purged) is never handed out again. */
async function rebuildLogTable(db: Kysely<any>, d: DialectInfo, results: string[]): Promise<void> {
  const { types } = d;
  const { now } = sqlOf(d);
  const columns = [
    "id", "queue_id", "message_data", "message_id", "subject", "envelope_from", "envelope_to", "when_added", "priority",
    "retry_count", "when_attempted", "result", "log_message",
  ];
  await db.schema
    .createTable("mailer_messagelog_new")
    .addColumn("id", sql.raw(types.id), (c) => c.primaryKey().autoIncrement())
    .addColumn("queue_id", "integer")
    .addColumn("message_data", sql.raw(types.bytes))
    .addColumn("message_id", "text")
    .addColumn("subject", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("envelope_from", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("envelope_to", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("when_added", sql.raw(types.time), (c) => c.notNull())
    .addColumn("priority", sql.raw(types.smallint), (c) => c.notNull())
    .addColumn("retry_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("when_attempted", sql.raw(types.time), (c) => c.notNull().defaultTo(now))
    .addColumn("result", "text", (c) => c.notNull().check(resultCheck(results)))
    .addColumn("log_message", "text", (c) => c.notNull().defaultTo(""))
    .execute();
  const list = sql.join(columns.map((c) => sql.ref(c)));
  await sql`insert into mailer_messagelog_new (${list}) select ${list} from mailer_messagelog`.execute(db);
  const counter = await sql<{ seq: number }>`select seq from sqlite_sequence where name = 'mailer_messagelog'`.execute(db);
  await db.schema.dropTable("mailer_messagelog").execute();
  await db.schema.alterTable("mailer_messagelog_new").renameTo("mailer_messagelog").execute();
  const seq = Number(counter.rows[0]?.seq ?? 0);
  if (seq > 0) {
    await sql`delete from sqlite_sequence where name = 'mailer_messagelog'`.execute(db);
    await sql`insert into sqlite_sequence (name, seq) values ('mailer_messagelog', ${seq})`.execute(db);
  }
  await db.schema.createIndex("mailer_messagelog_purge_idx").on("mailer_messagelog").columns(["result", "when_attempted"]).execute();
  await db.schema.createIndex("mailer_messagelog_when_attempted_idx").on("mailer_messagelog").column("when_attempted").execute();
  await db.schema.createIndex("mailer_messagelog_message_id_idx").on("mailer_messagelog").column("message_id").execute();
  await db.schema.createIndex("mailer_messagelog_queue_id_idx").on("mailer_messagelog").column("queue_id").execute();
}
