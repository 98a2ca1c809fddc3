// What the engine checks at send and record time, so that neither a list change nor a lost commit
// acknowledgement makes it act twice or act on stale facts (issue 16, items 6 and 7).
//
// - mailer_counter: named counters. `dont_send` is bumped by triggers on every change to
//   mailer_dontsendentry, whoever makes it (the CLI, the console, an app's own SQL). A worker reads
//   it immediately before each message's SMTP transaction and looks the recipients up again only
//   when it moved since the batch was claimed: one indexed single-row read per message, not a list
//   lookup.
// - mailer_recordedbatch: the key of each batch outcome recorded, written in the same transaction as
//   its log rows. A retry of a commit whose acknowledgement was lost finds its key and writes nothing
//   again. Kept for a day (the retries happen within seconds).
import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { DialectInfo } from "../dialect.ts";
import { sqlOf, withTableOptions } from "../dialect-sql.ts";
import { DONT_SEND_COUNTER } from "../queries/dont-send-state.ts";
const DONT_SEND_TRIGGER = "mailer_dontsend_changed";

export function sendTimeChecks(d: DialectInfo): Migration {
  const triggers = d.changeTriggers(
    "mailer_dontsendentry",
    DONT_SEND_TRIGGER,
    `update mailer_counter set value = value + 1 where name = '${DONT_SEND_COUNTER}'`,
  );
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("mailer_counter")
        .addColumn("name", sql.raw(d.types.key), (c) => c.primaryKey())
        .addColumn("value", "bigint", (c) => c.notNull().defaultTo(0))
        .$call(withTableOptions(d))
        .execute();
      await db.insertInto("mailer_counter").values({ name: DONT_SEND_COUNTER, value: 0 }).execute();
      for (const statement of triggers.create) await sql.raw(statement).execute(db);

      await db.schema
        .createTable("mailer_recordedbatch")
        .addColumn("key", sql.raw(d.types.key), (c) => c.primaryKey())
        .addColumn("recorded_at", sql.raw(d.types.time), (c) => c.notNull().defaultTo(sqlOf(d).now))
        .$call(withTableOptions(d))
        .execute();
      await db.schema.createIndex("mailer_recordedbatch_recorded_at_idx").on("mailer_recordedbatch").column("recorded_at").execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("mailer_recordedbatch").execute();
      for (const statement of triggers.drop) await sql.raw(statement).execute(db);
      await db.schema.dropTable("mailer_counter").execute();
    },
  };
}
