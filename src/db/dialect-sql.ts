// The SQL fragments that differ between the databases, for statements Kysely builds. Apart from
// dialect.ts's facts so that a command that only queues a message loads neither these nor Kysely
// (connect.ts Connection).
import { sql, type CreateIndexBuilder, type CreateTableBuilder, type RawBuilder } from "kysely";
import { MARIADB, POSTGRES, SQLITE, type DialectInfo } from "./dialect.ts";

export interface DialectSql {
  /** Appended to CREATE TABLE (MariaDB: InnoDB, utf8mb4, and a binary collation so that text compares
   * byte for byte as on the other databases), or null. */
  tableOptions: RawBuilder<unknown> | null;
  /** Drops the CHECK written on a column (`column` is `type`, not null). */
  dropColumnCheck(table: string, column: string, type: string): RawBuilder<unknown>;
  /** What DROP INDEX needs after the index's name: " on TABLE" (MariaDB) or nothing. */
  indexTableClause(table: string): RawBuilder<unknown>;
  /** The queue table, named as a statement that reads every row of it should name it. Left to
   * choose, MariaDB groups by (status, priority) by walking the queue index and fetching each row
   * through the primary key: `mailer status` took 11.4 s at a million rows, 2 s scanning the table. */
  wholeMessageTable: RawBuilder<unknown>;
  /** The database's own clock, as a column default. */
  now: RawBuilder<unknown>;
  /** The database's clock in epoch seconds (fractional), the same value throughout one statement:
   * shared rate limits read one clock, whichever host the worker runs on. */
  epochNow: RawBuilder<number>;
  /** The larger (smaller) of two numbers. */
  greatest(a: RawBuilder<unknown>, b: RawBuilder<unknown>): RawBuilder<number>;
  least(a: RawBuilder<unknown>, b: RawBuilder<unknown>): RawBuilder<number>;
  /** A time column cut to the minute or hour, as UTC text "YYYY-MM-DDTHH:MM" / "YYYY-MM-DDTHH"
   * (the console's activity chart groups log rows by it). */
  bucket(column: string, unit: "minute" | "hour"): RawBuilder<string>;
}

const SQLITE_SQL: DialectSql = {
  tableOptions: null,
  dropColumnCheck: () => {
    throw new Error("SQLite cannot alter a CHECK constraint: the table is rebuilt instead");
  },
  indexTableClause: () => sql``,
  wholeMessageTable: sql`mailer_message`,
  // ISO-8601 with milliseconds and Z, the same text Date.prototype.toISOString gives, so text order is time order.
  now: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
  // julianday('now') is fixed for the whole statement; its resolution is about 20 µs.
  epochNow: sql<number>`((julianday('now') - 2440587.5) * 86400.0)`,
  greatest: (a, b) => sql<number>`max(${a}, ${b})`,
  least: (a, b) => sql<number>`min(${a}, ${b})`,
  // The stored text is already UTC ISO-8601: its first 16 (13) characters are the minute (hour).
  bucket: (column, unit) => sql<string>`substr(${sql.ref(column)}, 1, ${sql.lit(unit === "minute" ? 16 : 13)})`,
};

const POSTGRES_SQL: DialectSql = {
  tableOptions: null,
  // A CHECK written on a column is a named constraint.
  dropColumnCheck: (table, column) => sql`alter table ${sql.table(table)} drop constraint ${sql.id(`${table}_${column}_check`)}`,
  indexTableClause: () => sql``,
  wholeMessageTable: sql`mailer_message`,
  now: sql`now()`,
  // statement_timestamp(), not now(): inside a transaction now() is the transaction's start.
  epochNow: sql<number>`extract(epoch from statement_timestamp())::double precision`,
  greatest: (a, b) => sql<number>`greatest(${a}, ${b})`,
  least: (a, b) => sql<number>`least(${a}, ${b})`,
  bucket: (column, unit) =>
    // A literal, not a parameter: GROUP BY must see the very expression the SELECT list has.
    sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', ${sql.lit(unit === "minute" ? 'YYYY-MM-DD"T"HH24:MI' : 'YYYY-MM-DD"T"HH24')})`,
};

const MARIADB_SQL: DialectSql = {
  tableOptions: sql`engine = InnoDB default charset = utf8mb4 collate = utf8mb4_bin`,
  // A CHECK written on a column is part of the column's definition, which is written again without it.
  dropColumnCheck: (table, column, type) => sql`alter table ${sql.table(table)} modify ${sql.id(column)} ${sql.raw(type)} not null`,
  indexTableClause: (table) => sql` on ${sql.table(table)}`,
  wholeMessageTable: sql`mailer_message ignore index (mailer_message_queue_idx)`,
  // UTC whatever the session's time_zone: an application's own INSERT (in its server's zone) gets a
  // default in the same UTC that mailer's sessions write.
  now: sql`(utc_timestamp(6))`,
  // now(6) is fixed for the statement; + 0e0 makes the DECIMAL a double.
  epochNow: sql<number>`(unix_timestamp(now(6)) + 0e0)`,
  greatest: (a, b) => sql<number>`greatest(${a}, ${b})`,
  least: (a, b) => sql<number>`least(${a}, ${b})`,
  bucket: (column, unit) => sql<string>`date_format(${sql.ref(column)}, ${sql.lit(unit === "minute" ? "%Y-%m-%dT%H:%i" : "%Y-%m-%dT%H")})`,
};

const FRAGMENTS = new Map<DialectInfo, DialectSql>([
  [SQLITE, SQLITE_SQL],
  [POSTGRES, POSTGRES_SQL],
  [MARIADB, MARIADB_SQL],
]);

/** The fragments of a dialect (one of dialect.ts's three). */
export const sqlOf = (d: DialectInfo): DialectSql => FRAGMENTS.get(d)!;

/** For CREATE TABLE's `$call`: the dialect's table options, if it has any. */
export const withTableOptions =
  (d: DialectInfo) =>
  <T extends CreateTableBuilder<any, any>>(table: T): T => {
    const options = sqlOf(d).tableOptions;
    return (options ? table.modifyEnd(options) : table) as T;
  };

/** For CREATE INDEX's `$call`: index only the rows where `column` is set, where the database can (the
 * rows without are most of the table); elsewhere an index of every row. */
export const indexOfSet =
  (d: DialectInfo, column: string) =>
  <T extends CreateIndexBuilder<any>>(index: T): T =>
    (d.capabilities.partialIndexes ? index.where(sql.ref(column), "is not", null) : index) as T;
