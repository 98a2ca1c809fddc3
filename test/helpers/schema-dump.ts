// A stable text description of the mailer schema, compared against committed snapshots.
import { sql } from "kysely";
import type { Database } from "../../src/db/connect.ts";

export async function dumpSchema(db: Database): Promise<string> {
  if (!db.dialect.capabilities.multipleConnections) {
    const rows = await sql<{ type: string; name: string; sql: string | null }>`
      select type, name, sql from sqlite_master where name like 'mailer_%' order by type desc, name`.execute(db.kysely);
    return rows.rows.map((r) => `${r.type} ${r.name}\n  ${(r.sql ?? "").replace(/\s+/g, " ")}`).join("\n") + "\n";
  }
  const columns = await sql<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }>`
    select table_name, column_name, data_type, is_nullable, column_default from information_schema.columns
    where table_schema = current_schema() and table_name like 'mailer_%' order by table_name, ordinal_position`.execute(db.kysely);
  const indexes = await sql<{ indexname: string; indexdef: string }>`
    select indexname, indexdef from pg_indexes where schemaname = current_schema() and tablename like 'mailer_%' order by indexname`.execute(db.kysely);
  const checks = await sql<{ conname: string; def: string }>`
    select conrelid::regclass::text || '.' || conname as conname, pg_get_constraintdef(oid) as def from pg_constraint
    where connamespace = current_schema()::regnamespace and contype = 'c' order by 1`.execute(db.kysely);
  // The triggers the migrations make (runmailer-pg's NOTIFY trigger is installed by the worker, not here).
  const triggers = await sql<{ tgname: string; def: string }>`
    select tgname, pg_get_triggerdef(t.oid) as def from pg_trigger t join pg_class c on c.oid = t.tgrelid
    where c.relnamespace = current_schema()::regnamespace and not t.tgisinternal order by tgname`.execute(db.kysely);
  return [
    ...columns.rows.map(
      (c) => `column ${c.table_name}.${c.column_name} ${c.data_type}${c.is_nullable === "NO" ? " not null" : ""}${c.column_default ? ` default ${c.column_default.replace(/nextval\('[^']+'::regclass\)/, "nextval(seq)")}` : ""}`,
    ),
    ...indexes.rows.map((i) => `index ${i.indexname}: ${i.indexdef}`),
    ...checks.rows.map((c) => `check ${c.conname}: ${c.def}`),
    ...triggers.rows.map((t) => `trigger ${t.tgname}: ${t.def}`),
  ].join("\n") + "\n";
}
