// What differs between the databases, as data: capability flags, column types and time values.
// Code asks a flag (e.g. `skipLocked`), never which database it is talking to. The SQL fragments
// that differ are here as text for statements written out (sql-text.ts), and in dialect-sql.ts for
// statements Kysely builds: this module loads without Kysely (connect.ts Connection).
import type { Kysely, QueryResult } from "kysely";
import type { Connection, Database, Statement } from "./connect.ts";
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
  /** The don't-send list's lower-cased address, as its unique index has it (a column MariaDB
   * generates, lower(to_address) elsewhere): lookups by it use the index. */
  dontSendKey: string;
  /** A bytes column (quoted) read as text that costs the driver less, or null to read it as it is. On
   * PostgreSQL a bytea result is hex, twice the bytes: postgres.js turns every claimed text into a
   * string of it and decodes that, per message. The escape form of a mail text is the text itself
   * (only NUL, 8-bit bytes and backslashes are escaped), which bytea.ts byteaResult reads. */
  bytesAsText: ((column: string) => string) | null;
  /** Column types used by the migrations. `text` is unindexed text of any length; `key` a name or
   * word that is indexed (a primary key, a status); `indexedText` a longer indexed value (a
   * Message-ID, an address). They differ only where an index needs a bounded length (MariaDB). */
  types: { id: string; bytes: string; time: string; smallint: string; real: string; text: string; key: string; indexedText: string };
  /** A JS time as this database stores it. */
  toDb(date: Date): DbTime;
  /** DDL for triggers named `name` that run `statement` after any INSERT, UPDATE or DELETE on
   * `table` (whoever makes it: the CLI, an app's plain SQL), and the DDL that drops them. */
  changeTriggers(table: string, name: string, statement: string): { create: string[]; drop: string[] };
}

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

export const SQLITE: DialectInfo = {
  label: "sqlite",
  capabilities: {
    skipLocked: false, listenNotify: false, multipleConnections: false, alterConstraints: false, pickAndChange: true,
    partialIndexes: true, expressionIndexes: true, onConflict: true,
  },
  quote: doubleQuoted,
  parameter: questionMark,
  dontSendKey: "lower(to_address)",
  bytesAsText: null,
  types: { id: "integer", bytes: "blob", time: "text", smallint: "integer", real: "real", text: "text", key: "text", indexedText: "text" },
  toDb: (date) => date.toISOString(),
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
  dontSendKey: "lower(to_address)",
  bytesAsText: (column) => `encode(${column}, 'escape')`,
  types: {
    id: "bigserial", bytes: "bytea", time: "timestamptz", smallint: "smallint", real: "double precision", text: "text", key: "text",
    indexedText: "text",
  },
  toDb: (date) => date,
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
  dontSendKey: "to_address_key",
  bytesAsText: null,
  types: {
    id: "bigint auto_increment", bytes: "longblob", time: "datetime(6)", smallint: "smallint", real: "double", text: "mediumtext",
    // 255 and 768 characters of utf8mb4: within InnoDB's 3,072-byte index key, a composite one too.
    key: "varchar(255)", indexedText: "varchar(768)",
  },
  toDb: (date) => date,
  changeTriggers: (table, name, statement) => rowTriggers(name, (kind) => `after ${kind} on ${table} for each row ${statement}`),
};

export function fromDbTime(value: DbTime): Date;
export function fromDbTime(value: DbTime | null): Date | null;
export function fromDbTime(value: DbTime | null): Date | null {
  if (value === null) return null;
  return value instanceof Date ? value : new Date(value);
}

/** What an open database leaves for a statement that is handed only its Kysely (a transaction, say). */
interface Opened extends Pick<Database, "dialect" | "statementBytes"> {
  /** Runs a statement written out on the database's Kysely or one of its transactions. */
  run<R>(on: Kysely<any>, statement: Statement): Promise<QueryResult<R>>;
}

/** Each open database, by its Kysely adapter (which its transactions share). */
const opened = new WeakMap<object, Opened>();

/** Records an open database (kysely-over.ts, once each), so that a statement handed only its Kysely
 * can find its dialect and limits, and run. */
export function registerDatabase(db: Database, run: Opened["run"]): void {
  opened.set(db.kysely.getExecutor().adapter, { dialect: db.dialect, statementBytes: db.statementBytes, run });
}

function openedAs(db: Kysely<any>): Opened {
  const found = opened.get(db.getExecutor().adapter);
  if (!found) throw new Error("this Kysely instance was not opened by openDatabase");
  return found;
}

/** Where a statement written out can run: a Connection (which may be without Kysely), or a Kysely
 * instance or transaction opened by connect.ts. */
export type StatementTarget = Connection | Kysely<any>;

export const isConnection = (db: StatementTarget): db is Connection => "displayUrl" in db;

/** The dialect of a Connection, or of a Kysely instance or transaction opened by connect.ts. */
export const dialectOf = (db: StatementTarget): DialectInfo => (isConnection(db) ? db.dialect : openedAs(db).dialect);

/** See Connection.statementBytes. */
export const statementBytesOf = (db: StatementTarget): number | null => (isConnection(db) ? db.statementBytes : openedAs(db).statementBytes);

/** A statement written out: on a Connection outside any transaction, or on Kysely (an instance or a
 * transaction) through its pipeline, as any query it builds. */
export const runOn = <R>(db: StatementTarget, statement: Statement): Promise<QueryResult<R>> =>
  isConnection(db) ? db.executeQuery<R>(statement) : openedAs(db).run<R>(db, statement);
