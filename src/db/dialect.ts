// What differs between the databases, as data: capability flags, column types and time values.
// Code asks a flag (e.g. `skipLocked`), never which database it is talking to.
import { sql, type RawBuilder } from "kysely";
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
}

export interface DialectInfo {
  /** For people: log lines and `status`. Never branch on it. */
  label: "sqlite" | "postgres";
  capabilities: Capabilities;
  /** Column types used by the migrations. */
  types: { id: string; bytes: string; time: string; smallint: string; real: string };
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

export const SQLITE: DialectInfo = {
  label: "sqlite",
  capabilities: { skipLocked: false, listenNotify: false, multipleConnections: false, alterConstraints: false },
  types: { id: "integer", bytes: "blob", time: "text", smallint: "integer", real: "real" },
  // ISO-8601 with milliseconds and Z, the same text Date.prototype.toISOString gives, so text order is time order.
  now: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
  // julianday('now') is fixed for the whole statement; its resolution is about 20 µs.
  epochNow: sql<number>`((julianday('now') - 2440587.5) * 86400.0)`,
  greatest: (a, b) => sql<number>`max(${a}, ${b})`,
  least: (a, b) => sql<number>`min(${a}, ${b})`,
  toDb: (date) => date.toISOString(),
  // The stored text is already UTC ISO-8601: its first 16 (13) characters are the minute (hour).
  bucket: (column, unit) => sql<string>`substr(${sql.ref(column)}, 1, ${sql.lit(unit === "minute" ? 16 : 13)})`,
  // SQLite has row triggers only: one per kind of change.
  changeTriggers: (table, name, statement) => {
    const kinds = ["insert", "update", "delete"];
    return {
      create: kinds.map((k) => `create trigger ${name}_${k} after ${k} on ${table} begin ${statement}; end`),
      drop: kinds.map((k) => `drop trigger if exists ${name}_${k}`),
    };
  },
};

export const POSTGRES: DialectInfo = {
  label: "postgres",
  capabilities: { skipLocked: true, listenNotify: true, multipleConnections: true, alterConstraints: true },
  types: { id: "bigserial", bytes: "bytea", time: "timestamptz", smallint: "smallint", real: "double precision" },
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

export function fromDbTime(value: DbTime): Date;
export function fromDbTime(value: DbTime | null): Date | null;
export function fromDbTime(value: DbTime | null): Date | null {
  if (value === null) return null;
  return value instanceof Date ? value : new Date(value);
}
