// The spool importer's ledger: the name of each spool file whose message is in the queue, written in
// the same transaction as the message. A file whose name is here was imported already, whatever
// happened to it after (a crash before the unlink): it is removed, not queued a second time, even if
// its message has been sent and deleted meanwhile. Rows are kept for a day after the file is gone, so
// that an importer that read a file just before another one imported it still meets its row.
import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import type { DialectInfo } from "../dialect.ts";
import { sqlOf, withTableOptions } from "../dialect-sql.ts";

export function spoolImport(d: DialectInfo): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("mailer_spoolimport")
        .addColumn("name", sql.raw(d.types.key), (c) => c.primaryKey())
        .addColumn("imported_at", sql.raw(d.types.time), (c) => c.notNull().defaultTo(sqlOf(d).now))
        .$call(withTableOptions(d))
        .execute();
      await db.schema.createIndex("mailer_spoolimport_imported_at_idx").on("mailer_spoolimport").column("imported_at").execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("mailer_spoolimport").execute();
    },
  };
}
