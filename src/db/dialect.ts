// What differs between the databases, as data: capability flags, column types and time values.
// Code asks a flag (e.g. `skipLocked`), never which database it is talking to.
import { sql, type CreateIndexBuilder, type CreateTableBuilder, type Kysely, type RawBuilder } from "kysely";
import type { Database } from "./connect.ts";
import type { DbTime } from "./schema.ts";

export interface Capabilities {
  /** Row locks that other workers skip: many workers on many hosts claim disjoint rows. */
  skipLocked: boolean;
  /** LISTEN/NOTIFY, for runmailer-pg. */
  listenNotify: boolean;
  /** Several connections at once. */
  multipleConnections: boolean;
  /** ALTER TABLE can drop and add a CHECK constraint (SQLite's must rebuild the table). */
  alterConstraints: boolean;
  /** One statement can pick rows of a table with LIMIT and change them, returning what it changed
   * (UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING). Without it (MariaDB: no LIMIT in an IN
   * subquery, no UPDATE … RETURNING) the pick is a locking SELECT in the same transaction. */
  pickAndChange: boolean;
  /** CREATE INDEX … WHERE: an index over only the rows that match. */
  partialIndexes: boolean;
  /** An index on an expression, e.g. lower(to_address). */
  expressionIndexes: boolean;
  /** INSERT … ON CONFLICT DO NOTHING / DO UPDATE … WHERE; without it, INSERT IGNORE and
   * INSERT … ON DUPLICATE KEY UPDATE (insert-new.ts, idempotency.ts). */
  onConflict: boolean;
}

export interface DialectInfo {
  /** For people: log lines and `status`. Never branch on it. */
  label: "sqlite" | "postgres" | "mariadb";
  capabilities: Capabilities;
  /** An identifier as Kysely's compiler for this database quotes it, for SQL written out
   * (insert-rows.ts). */
  quote(identifier: string): string;
  /** The placeholder of the n-th (from 1) parameter of a statement, as Kysely writes it. */
  parameter(n: number): string;
  /** Column types used by the migrations. `text` is unindexed text of any length; `key` a name or
   * word that is indexed (a primary key, a status); `indexedText` a longer indexed value (a
   * Message-ID, an address). They differ only where an index needs a bounded length (MariaDB). */
  types: { id: string; bytes: string; time: string; smallint: string; real: string; text: string; key: string; indexedText: string };
  /** Appended to CREATE TABLE (MariaDB: InnoDB, utf8mb4, and a binary collation so that text compares
   * byte for byte as on the other databases), or null. */
  tableOptions: RawBuilder<unknown> | null;
  /** Drops the CHECK written on a column (`column` is `type`, not null). */
  dropColumnCheck(table: string, column: string, type: string): RawBuilder<unknown>;
  /** What DROP INDEX needs after the index's name: " on TABLE" (MariaDB) or nothing. */
  indexTableClause(table: string): RawBuilder<unknown>;
  /** The don't-send list's lower-cased address, as its unique index has it (a column MariaDB
   * generates, lower(to_address) elsewhere): lookups by it use the index. */
  dontSendKey: RawBuilder<string>;
  /** The queue table, named as a statement that reads every row of it should name it. Left to
   * choose, MariaDB groups by (status, priority) by walking the queue index and fetching each row
   * through the primary key: `mailer status` took 11.4 s at a million rows, 2 s scanning the table. */
  wholeMessageTable: RawBuilder<unknown>;
  /** A bytes column as text that costs the driver less to read, or null to read it as it is. On
   * PostgreSQL a bytea result is hex, twice the bytes: postgres.js turns every claimed text into a
   * string of it and decodes that, per message. The escape form of a mail text is the text itself
   * (only NUL, 8-bit bytes and backslashes are escaped), which bytea.ts byteaResult reads. */
  bytesAsText: ((column: string) => RawBuilder<string>) | null;
  /** The database's own clock, as a column default. */
  now: RawBuilder<unknown>;
  /** The database's clock in epoch seconds (fractional), the same value throughout one statement:
   * shared rate limits read one clock, whichever host the worker runs on. */
  epochNow: RawBuilder<number>;
  /** The larger (smaller) of two numbers. */
  greatest(a: RawBuilder<unknown>, b: RawBuilder<unknown>): RawBuilder<number>;
  least(a: RawBuilder<unknown>, b: RawBuilder<unknown>): RawBuilder<number>;
  /** A JS time as this database stores it. */
  toDb(date: Date): DbTime;
  /** A time column cut to the minute or hour, as UTC text "YYYY-MM-DDTHH:MM" / "YYYY-MM-DDTHH"
   * (the console's activity chart groups log rows by it). */
  bucket(column: string, unit: "minute" | "hour"): RawBuilder<string>;
  /** DDL for triggers named `name` that run `statement` after any INSERT, UPDATE or DELETE on
   * `table` (whoever makes it: the CLI, an app's plain SQL), and the DDL that drops them. */
  changeTriggers(table: string, name: string, statement: string): { create: string[]; drop: string[] };
}

const lowerToAddress = sql<string>`lower(to_address)`;

const doubleQuoted = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
const questionMark = () => "?";

/** Where only row triggers exist: one trigger per kind of change, `${name}_insert` and so on. */
function rowTriggers(name: string, body: (kind: string) => string): { create: string[]; drop: string[] } {
  const kinds = ["insert", "update", "delete"];
  return {
    create: kinds.map((kind) => `create trigger ${name}_${kind} ${body(kind)}`),
    drop: kinds.map((kind) => `drop trigger if exists ${name}_${kind}`),
  };
}

/** For CREATE TABLE's `$call`: the dialect's table options, if it has any. */
export const withTableOptions =
  (d: DialectInfo) =>
  <T extends CreateTableBuilder<any, any>>(table: T): T =>
    (d.tableOptions ? table.modifyEnd(d.tableOptions) : table) as T;

/** For CREATE INDEX's `$call`: index only the rows where `column` is set, where the database can (the
 * rows without are most of the table); elsewhere an index of every row. */
export const indexOfSet =
  (d: DialectInfo, column: string) =>
  <T extends CreateIndexBuilder<any>>(index: T): T =>
    (d.capabilities.partialIndexes ? index.where(sql.ref(column), "is not", null) : index) as T;

export const SQLITE: DialectInfo = {
  label: "sqlite",
  capabilities: {
    skipLocked: false, listenNotify: false, multipleConnections: false, alterConstraints: false, pickAndChange: true,
    partialIndexes: true, expressionIndexes: true, onConflict: true,
  },
  quote: doubleQuoted,
  parameter: questionMark,
  types: { id: "integer", bytes: "blob", time: "text", smallint: "integer", real: "real", text: "text", key: "text", indexedText: "text" },
  tableOptions: null,
  dropColumnCheck: () => {
    throw new Error("SQLite cannot alter a CHECK constraint: the table is rebuilt instead");
  },
  indexTableClause: () => sql``,
  dontSendKey: lowerToAddress,
  wholeMessageTable: sql`mailer_message`,
  bytesAsText: null,
  // ISO-8601 with milliseconds and Z, the same text Date.prototype.toISOString gives, so text order is time order.
  now: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
  // julianday('now') is fixed for the whole statement; its resolution is about 20 µs.
  epochNow: sql<number>`((julianday('now') - 2440587.5) * 86400.0)`,
  greatest: (a, b) => sql<number>`max(${a}, ${b})`,
  least: (a, b) => sql<number>`min(${a}, ${b})`,
  toDb: (date) => date.toISOString(),
  // The stored text is already UTC ISO-8601: its first 16 (13) characters are the minute (hour).
  bucket: (column, unit) => sql<string>`substr(${sql.ref(column)}, 1, ${sql.lit(unit === "minute" ? 16 : 13)})`,
  changeTriggers: (table, name, statement) => rowTriggers(name, (kind) => `after ${kind} on ${table} begin ${statement}; end`),
};

export const POSTGRES: DialectInfo = {
  label: "postgres",
  capabilities: {
    skipLocked: true, listenNotify: true, multipleConnections: true, alterConstraints: true, pickAndChange: true,
    partialIndexes: true, expressionIndexes: true, onConflict: true,
  },
  quote: doubleQuoted,
  parameter: (n) => `$${n}`,
  types: {
    id: "bigserial", bytes: "bytea", time: "timestamptz", smallint: "smallint", real: "double precision", text: "text", key: "text",
    indexedText: "text",
  },
  tableOptions: null,
  // A CHECK written on a column is a named constraint.
  dropColumnCheck: (table, column) => sql`alter table ${sql.table(table)} drop constraint ${sql.id(`${table}_${column}_check`)}`,
  indexTableClause: () => sql``,
  dontSendKey: lowerToAddress,
  wholeMessageTable: sql`mailer_message`,
  bytesAsText: (column) => sql<string>`encode(${sql.ref(column)}, 'escape')`,
  now: sql`now()`,
  // statement_timestamp(), not now(): inside a transaction now() is the transaction's start.
  epochNow: sql<number>`extract(epoch from statement_timestamp())::double precision`,
  greatest: (a, b) => sql<number>`greatest(${a}, ${b})`,
  least: (a, b) => sql<number>`least(${a}, ${b})`,
  toDb: (date) => date,
  bucket: (column, unit) =>
    // A literal, not a parameter: GROUP BY must see the very expression the SELECT list has.
    sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', ${sql.lit(unit === "minute" ? 'YYYY-MM-DD"T"HH24:MI' : 'YYYY-MM-DD"T"HH24')})`,
  // One statement-level trigger: a change of many rows runs the statement once.
  changeTriggers: (table, name, statement) => ({
    create: [
      `create function ${name}() returns trigger language plpgsql as $$ begin ${statement}; return null; end $$`,
      `create trigger ${name} after insert or update or delete or truncate on ${table} for each statement execute function ${name}()`,
    ],
    drop: [`drop trigger if exists ${name} on ${table}`, `drop function if exists ${name}()`],
  }),
};

/** MariaDB ≥ 10.6 (connect.ts refuses older ones, and MySQL). Sessions run in UTC, READ COMMITTED
 * and strict mode (mariadb-pool.ts). */
export const MARIADB: DialectInfo = {
  label: "mariadb",
  capabilities: {
    skipLocked: true, listenNotify: false, multipleConnections: true, alterConstraints: true, pickAndChange: false,
    partialIndexes: false, expressionIndexes: false, onConflict: false,
  },
  quote: (identifier) => `\`${identifier.replaceAll("`", "``")}\``,
  parameter: questionMark,
  types: {
    id: "bigint auto_increment", bytes: "longblob", time: "datetime(6)", smallint: "smallint", real: "double", text: "mediumtext",
    // 255 and 768 characters of utf8mb4: within InnoDB's 3,072-byte index key, a composite one too.
    key: "varchar(255)", indexedText: "varchar(768)",
  },
  tableOptions: sql`engine = InnoDB default charset = utf8mb4 collate = utf8mb4_bin`,
  // A CHECK written on a column is part of the column's definition, which is written again without it.
  dropColumnCheck: (table, column, type) => sql`alter table ${sql.table(table)} modify ${sql.id(column)} ${sql.raw(type)} not null`,
  indexTableClause: (table) => sql` on ${sql.table(table)}`,
  dontSendKey: sql<string>`to_address_key`,
  wholeMessageTable: sql`mailer_message ignore index (mailer_message_queue_idx)`,
  bytesAsText: null,
  // UTC whatever the session's time_zone: an application's own INSERT (in its server's zone) gets a
  // default in the same UTC that mailer's sessions write.
  now: sql`(utc_timestamp(6))`,
  // now(6) is fixed for the statement; + 0e0 makes the DECIMAL a double.
  epochNow: sql<number>`(unix_timestamp(now(6)) + 0e0)`,
  greatest: (a, b) => sql<number>`greatest(${a}, ${b})`,
  least: (a, b) => sql<number>`least(${a}, ${b})`,
  toDb: (date) => date,
  bucket: (column, unit) => sql<string>`date_format(${sql.ref(column)}, ${sql.lit(unit === "minute" ? "%Y-%m-%dT%H:%i" : "%Y-%m-%dT%H")})`,
  changeTriggers: (table, name, statement) => rowTriggers(name, (kind) => `after ${kind} on ${table} for each row ${statement}`),
};

export function fromDbTime(value: DbTime): Date;
export function fromDbTime(value: DbTime | null): Date | null;
export function fromDbTime(value: DbTime | null): Date | null {
  if (value === null) return null;
  return value instanceof Date ? value : new Date(value);
}

/** Each open database, by its Kysely adapter (which its transactions share). */
const opened = new WeakMap<object, Pick<Database, "dialect" | "statementBytes">>();

/** Records an open database (connect.ts, once each), so that a statement handed only its Kysely (a
 * transaction, say) can find its dialect and limits. */
export function registerDatabase(db: Database): void {
  opened.set(db.kysely.getExecutor().adapter, db);
}

function openedAs(db: Kysely<any>): Pick<Database, "dialect" | "statementBytes"> {
  const found = opened.get(db.getExecutor().adapter);
  if (!found) throw new Error("this Kysely instance was not opened by openDatabase");
  return found;
}

/** The dialect of a Kysely instance or transaction opened by connect.ts. */
export const dialectOf = (db: Kysely<any>): DialectInfo => openedAs(db).dialect;

/** See Database.statementBytes. */
export const statementBytesOf = (db: Kysely<any>): number | null => openedAs(db).statementBytes;
