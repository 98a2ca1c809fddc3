// A stable text description of the mailer schema, compared against committed snapshots.
import { sql } from "kysely";
import type { Database } from "../../src/db/connect.ts";

export async function dumpSchema(db: Database): Promise<string> {
  if (db.dialect.label === "mariadb") return dumpMariadbSchema(db);
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

async function dumpMariadbSchema(db: Database): Promise<string> {
  const tables = await sql<{ table_name: string; engine: string; table_collation: string }>`
    select table_name, engine, table_collation from information_schema.tables
    where table_schema = database() and table_name like 'mailer\_%' order by table_name`.execute(db.kysely);
  const columns = await sql<{ table_name: string; column_name: string; column_type: string; is_nullable: string; column_default: string | null; extra: string; generation_expression: string | null; collation_name: string | null }>`
    select table_name, column_name, column_type, is_nullable, column_default, extra, generation_expression, collation_name from information_schema.columns
    where table_schema = database() and table_name like 'mailer\_%' order by table_name, ordinal_position`.execute(db.kysely);
  const indexes = await sql<{ table_name: string; index_name: string; non_unique: number; columns: string }>`
    select table_name, index_name, min(non_unique) as non_unique, group_concat(column_name order by seq_in_index) as columns
    from information_schema.statistics where table_schema = database() and table_name like 'mailer\_%'
    group by table_name, index_name order by table_name, index_name`.execute(db.kysely);
  const checks = await sql<{ table_name: string; constraint_name: string; check_clause: string }>`
    select table_name, constraint_name, check_clause from information_schema.check_constraints
    where constraint_schema = database() order by table_name, constraint_name`.execute(db.kysely);
  const triggers = await sql<{ trigger_name: string; event_manipulation: string; event_object_table: string; action_statement: string }>`
    select trigger_name, event_manipulation, event_object_table, action_statement from information_schema.triggers
    where trigger_schema = database() order by trigger_name`.execute(db.kysely);
  return [
    ...tables.rows.map((t) => `table ${t.table_name} ${t.engine} ${t.table_collation}`),
    ...columns.rows.map(
      (c) =>
        `column ${c.table_name}.${c.column_name} ${c.column_type}${c.collation_name ? ` ${c.collation_name}` : ""}${c.is_nullable === "NO" ? " not null" : ""}` +
        `${c.column_default !== null && c.column_default !== "NULL" ? ` default ${c.column_default}` : ""}${c.extra ? ` ${c.extra}` : ""}${c.generation_expression ? ` as ${c.generation_expression}` : ""}`,
    ),
    ...indexes.rows.map((i) => `index ${i.table_name}.${i.index_name}${Number(i.non_unique) === 0 ? " unique" : ""} (${i.columns})`),
    ...checks.rows.map((c) => `check ${c.table_name}.${c.constraint_name}: ${c.check_clause}`),
    ...triggers.rows.map((t) => `trigger ${t.trigger_name}: after ${t.event_manipulation.toLowerCase()} on ${t.event_object_table}: ${t.action_statement}`),
  ].join("\n") + "\n";
}
