// The first schema: the queue, the log and the don't-send list, with django-mailer's table names.
// Column defaults live in the database (unlike django-mailer) so a plain SQL INSERT needs few columns.
import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { DialectInfo } from "../dialect.ts";
import { indexOfSet, sqlOf, withTableOptions } from "../dialect-sql.ts";

export function initial(d: DialectInfo): Migration {
  const { types } = d;
  const { now } = sqlOf(d);
  const text = sql.raw(types.text);
  const key = sql.raw(types.key);
  const indexedText = sql.raw(types.indexedText);
  const id = (c: any) => (d.capabilities.skipLocked ? c.primaryKey() : c.primaryKey().autoIncrement());
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("mailer_message")
        .addColumn("id", sql.raw(types.id), id)
        .addColumn("message_data", sql.raw(types.bytes), (c) => c.notNull())
        .addColumn("message_id", indexedText, (c) => c.notNull().defaultTo(""))
        .addColumn("subject", text, (c) => c.notNull().defaultTo(""))
        .addColumn("envelope_from", text, (c) => c.notNull().defaultTo(""))
        .addColumn("envelope_to", text, (c) => c.notNull())
        .addColumn("priority", sql.raw(types.smallint), (c) => c.notNull().defaultTo(2).check(sql`priority in (1, 2, 3)`))
        .addColumn("status", key, (c) =>
          c.notNull().defaultTo("queued").check(sql`status in ('queued', 'deferred', 'failed')`),
        )
        .addColumn("when_added", sql.raw(types.time), (c) => c.notNull().defaultTo(now))
        .addColumn("retry_count", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("next_attempt_at", sql.raw(types.time))
        .addColumn("last_error", text, (c) => c.notNull().defaultTo(""))
        .addColumn("claimed_by", key)
        .addColumn("lease_until", sql.raw(types.time))
        .$call(withTableOptions(d))
        .execute();
      // The queue order of a pass: what is queued, by priority, then age, then id.
      await db.schema
        .createIndex("mailer_message_queue_idx")
        .on("mailer_message")
        .columns(["status", "priority", "when_added", "id"])
        .execute();
      await db.schema.createIndex("mailer_message_message_id_idx").on("mailer_message").column("message_id").execute();
      // Workers look for claims left by dead processes on every pass; only claimed rows are indexed.
      await db.schema
        .createIndex("mailer_message_claimed_by_idx")
        .on("mailer_message")
        .column("claimed_by")
        .$call(indexOfSet(d, "claimed_by"))
        .execute();

      await db.schema
        .createTable("mailer_messagelog")
        .addColumn("id", sql.raw(types.id), id)
        .addColumn("queue_id", sql.raw(d.capabilities.skipLocked ? "bigint" : "integer"))
        .addColumn("message_data", sql.raw(types.bytes))
        .addColumn("message_id", indexedText)
        .addColumn("subject", text, (c) => c.notNull().defaultTo(""))
        .addColumn("envelope_from", text, (c) => c.notNull().defaultTo(""))
        .addColumn("envelope_to", text, (c) => c.notNull().defaultTo(""))
        .addColumn("when_added", sql.raw(types.time), (c) => c.notNull())
        .addColumn("priority", sql.raw(types.smallint), (c) => c.notNull())
        .addColumn("retry_count", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("when_attempted", sql.raw(types.time), (c) => c.notNull().defaultTo(now))
        .addColumn("result", key, (c) => c.notNull().check(sql`result in ('success', 'dont_send', 'failure')`))
        .addColumn("log_message", text, (c) => c.notNull().defaultTo(""))
        .$call(withTableOptions(d))
        .execute();
      // purge-mail-log deletes by result and age; status counts recent results.
      await db.schema
        .createIndex("mailer_messagelog_purge_idx")
        .on("mailer_messagelog")
        .columns(["result", "when_attempted"])
        .execute();
      await db.schema.createIndex("mailer_messagelog_when_attempted_idx").on("mailer_messagelog").column("when_attempted").execute();
      await db.schema.createIndex("mailer_messagelog_message_id_idx").on("mailer_messagelog").column("message_id").execute();
      await db.schema.createIndex("mailer_messagelog_queue_id_idx").on("mailer_messagelog").column("queue_id").execute();

      await db.schema
        .createTable("mailer_dontsendentry")
        .addColumn("id", sql.raw(types.id), id)
        .addColumn("to_address", indexedText, (c) => c.notNull())
        .addColumn("when_added", sql.raw(types.time), (c) => c.notNull().defaultTo(now))
        // Where an index cannot be on lower(to_address), that expression is a column of its own, which
        // the database keeps (dialect.ts dontSendKey).
        .$call((t) =>
          d.capabilities.expressionIndexes ? t : t.addColumn("to_address_key", indexedText, (c) => c.generatedAlwaysAs(sql`lower(to_address)`).stored()),
        )
        .$call(withTableOptions(d))
        .execute();
      // Matching is case-insensitive, as django-mailer's iexact.
      await sql`create unique index mailer_dontsendentry_address_idx on mailer_dontsendentry (${sql.raw(d.dontSendKey)})`.execute(db);
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("mailer_dontsendentry").execute();
      await db.schema.dropTable("mailer_messagelog").execute();
      await db.schema.dropTable("mailer_message").execute();
    },
  };
}
