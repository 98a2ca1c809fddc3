// A database URL becomes an open Connection (or Database, with Kysely) plus the facts about that
// database (dialect.ts).
import type { Kysely, QueryResult } from "kysely";
import { accessSync, constants, existsSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError, PermissionError } from "../errors.ts";
import { openSqlite, type SqliteHandle } from "../runtime.ts";
import { MARIADB, POSTGRES, SQLITE, type DialectInfo } from "./dialect.ts";
import { maskUrl, serverKind } from "./db-url.ts";
import { classifyDatabaseError } from "./classify-error.ts";
import { byteaParameter, byteaResult } from "./bytea.ts";

export { classifyDatabaseError };
import type { Schema } from "./schema.ts";

/** SQL text and its parameters, in the dialect's own syntax. */
export interface Statement {
  sql: string;
  parameters: readonly unknown[];
}

/** An open database, with or without Kysely: enough to check the schema and queue messages with
 * statements written out (migrate.ts schemaState, enqueue.ts, dont-send-state.ts). Every database
 * opens as a Connection on its own driver and loads Kysely on the first database() call, so
 * `sendmail -t` and `mailer queue` load none of its modules: both start about 13% sooner on SQLite,
 * about 10% on PostgreSQL and MariaDB (where connecting is most of what is left). */
export interface Connection {
  dialect: DialectInfo;
  /** The URL with any password masked, for logs and `status`. */
  displayUrl: string;
  /** The connection URL, for a dedicated LISTEN connection. */
  url: string;
  /** The SQLite handle (SQLite only), for a read on a hot path that is synchronous anyway
   * (dont-send-check.ts). */
  sqlite?: SqliteHandle;
  /** The most parameter bytes one statement may carry (MariaDB's max_allowed_packet, less room for
   * the SQL), or null where only the parameter count is bounded (insert-rows.ts splits by it). */
  statementBytes: number | null;
  /** Opening `url` again reaches this same data (false for an in-memory SQLite database, which only
   * this handle sees): what a second connection, e.g. a worker thread's, needs. */
  reopenable: boolean;
  /** One statement outside any transaction (autocommit), on the driver itself where it can be:
   * without Kysely's query pipeline, which on PostgreSQL cost about 40 µs of the main thread for the
   * read made before every send (dont-send-check.ts). */
  executeQuery<R>(statement: Statement): Promise<QueryResult<R>>;
  /** The same database with Kysely, loaded on the first call (a Database is its own). */
  database(): Promise<Database>;
  close(): Promise<void>;
}

export interface Database extends Connection {
  kysely: Kysely<Schema>;
}

/** Database.close may be reached from several owners (the context, a reloading worker): the first
 * call closes, the others wait for it. */
function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => (closing ??= close());
}

export interface OpenOptions {
  busyTimeout?: number;
  maxConnections?: number;
}

export { maskUrl };

/** Opens `url` as a Connection (Kysely loads on its first database() call). */
export async function openConnection(url: string, options: OpenOptions = {}): Promise<Connection> {
  const kind = url.startsWith("sqlite:") ? "sqlite" : serverKind(url);
  if (kind === null) throw new ConfigError(`database.url: expected sqlite:PATH, postgres://… or mysql://…, got ${JSON.stringify(maskUrl(url))}`);
  const open = { sqlite: openSqliteConnection, postgres: openPostgresConnection, mariadb: openMariaConnection }[kind];
  return open(url, options);
}

/** Opens `url` with Kysely. */
export async function openDatabase(url: string, options: OpenOptions = {}): Promise<Database> {
  return databaseOf(await openConnection(url, options));
}

/** A connection's Database; a connection that cannot give one (Kysely failed to load) is closed. */
export async function databaseOf(connection: Connection): Promise<Database> {
  try {
    return await connection.database();
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
}

async function openSqliteConnection(url: string, options: OpenOptions): Promise<Connection> {
  const path = url.slice("sqlite:".length);
  // Checked first: a file this user may read but not write opens, and fails only at the first write.
  const denied = path === ":memory:" ? null : sqlitePermissionProblem(path);
  if (denied) throw denied;
  let handle: SqliteHandle;
  try {
    handle = await openSqlite(path === ":memory:" ? ":memory:" : path);
    handle.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeout ?? 5000)}`);
    // 8 KiB pages for a new database (an existing one keeps its own): a stored message is about a
    // kilobyte or more, and with 4 KiB pages a bulk enqueue spent a sixth more time writing pages.
    handle.exec("PRAGMA page_size = 8192");
    if (path !== ":memory:") handle.exec("PRAGMA journal_mode = WAL");
  } catch (error) {
    throw classifyDatabaseError(error, maskUrl(url)) ?? error;
  }
  return connectionOver(
    { sqlite: handle, dialect: SQLITE, displayUrl: url, url, reopenable: path !== ":memory:", statementBytes: null },
    {
      run: async (statement) => onHandle(handle, statement),
      kysely: async ({ sqliteKysely }) => sqliteKysely(handle),
      close: async () => handle.close(),
      oneConnection: true,
    },
  );
}

type Facts = Omit<Connection, "executeQuery" | "database" | "close">;

/** How a Connection reaches its database without Kysely, and how Kysely is put over the same driver. */
interface Driver {
  /** One statement outside any transaction. */
  run<R>(statement: Statement): Promise<QueryResult<R>>;
  kysely(over: typeof import("./kysely-over.ts")): Promise<Kysely<Schema>>;
  /** Closes the driver when no Kysely was made over it (Kysely's destroy() closes it otherwise). */
  close(): Promise<void>;
  /** SQLite's one connection. Once Kysely is loaded, statements go through it: Kysely holds that
   * connection for a transaction across awaits, and a statement run on the handle then would join
   * the transaction (and be rolled back with it) instead of waiting for it. */
  oneConnection?: boolean;
}

function connectionOver(facts: Facts, driver: Driver): Connection {
  let kysely: Kysely<Schema> | null = null;
  let upgrading: Promise<Database> | null = null;
  const withClose = { ...facts, close: once(async () => (kysely ? kysely.destroy() : driver.close())) };
  return {
    ...withClose,
    executeQuery: async <R>(statement: Statement) =>
      upgrading && driver.oneConnection ? (await upgrading).executeQuery<R>(statement) : driver.run<R>(statement),
    database: () =>
      (upgrading ??= (async () => {
        const over = await import("./kysely-over.ts");
        kysely = await driver.kysely(over);
        // Statements written out keep going to the driver, except on SQLite's one connection.
        return over.databaseOver(withClose, kysely, driver.oneConnection ? undefined : driver.run);
      })()),
  };
}

/** A statement on an SQLite handle, with the result Kysely's SqliteDriver gives for it. */
function onHandle<R>(handle: SqliteHandle, { sql, parameters }: Statement): QueryResult<R> {
  const prepared = handle.prepare(sql);
  if (prepared.reader) return { rows: prepared.all(parameters) as R[] };
  const { changes, lastInsertRowid } = prepared.run(parameters);
  return {
    rows: [],
    numAffectedRows: changes == null ? undefined : BigInt(changes),
    insertId: lastInsertRowid == null ? undefined : BigInt(lastInsertRowid),
  };
}

/** An SQLite file this user may not read and write (or create, with its journal, in its directory)
 * is a permission problem, not a database that is down: say so, and whose the queue is. */
function sqlitePermissionProblem(path: string): PermissionError | null {
  const denied = (target: string, mode: number) => {
    try {
      accessSync(target, mode);
      return false;
    } catch (error) {
      // Only a refusal: a read-only file system (EROFS) is the database being unavailable, below.
      return (error as NodeJS.ErrnoException).code === "EACCES";
    }
  };
  const dir = dirname(path);
  const blocked = denied(dir, constants.X_OK) || (existsSync(path) ? denied(path, constants.R_OK | constants.W_OK) : false) || denied(dir, constants.W_OK);
  if (!blocked) return null;
  return new PermissionError(
    `permission denied: this user (uid ${process.getuid?.() ?? "?"}) may not open the queue database ${path}; ` +
      "only root and the account that owns it can (local users submit mail with sendmail and [queue] spool: see docs/security.md)",
  );
}

async function openPostgresConnection(url: string, options: OpenOptions): Promise<Connection> {
  const { reservableConnections } = await import("./pg-connections.ts");
  const settings = {
    connect_timeout: 10,
    idle_timeout: 60,
    onnotice: () => {},
    // int8 (ids, counts) as numbers: ids stay far below 2^53.
    types: {
      bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
      bytea: { to: 17, from: [17], serialize: byteaParameter, parse: byteaResult },
    },
    connection: { application_name: "mailer" },
  };
  // Kysely gets connections that survive the server closing them (pg-connections.ts explains the
  // postgres.js bug this avoids); a statement without Kysely takes one of the same.
  const connections = reservableConnections(url, { ...settings, max: options.maxConnections ?? 4 });
  return connectionOver(
    { dialect: POSTGRES, displayUrl: maskUrl(url), url, reopenable: true, statementBytes: null },
    {
      run: async <R>(statement: Statement) => resultOf<R>(await connections.read(statement.sql, statement.parameters)),
      kysely: ({ postgresKysely }) => postgresKysely(connections),
      close: () => connections.end(),
    },
  );
}

/** A postgres.js result as Kysely's postgres.js driver gives it: the rows, and the count of a change. */
function resultOf<R>(result: unknown[] & { command?: string; count?: number }): QueryResult<R> {
  const changed = result.command === "INSERT" || result.command === "UPDATE" || result.command === "DELETE" || result.command === "MERGE";
  return { rows: result as R[], numAffectedRows: changed ? BigInt(result.count ?? 0) : undefined };
}

async function openMariaConnection(url: string, options: OpenOptions): Promise<Connection> {
  // mysql2 is loaded only for a MariaDB URL, as postgres.js is only for a PostgreSQL one.
  const { checkServer, createMariadbPool, kyselyPool, runOnPool } = await import("./mariadb-pool.ts");
  const pool = await createMariadbPool(url, { maxConnections: options.maxConnections ?? 4 });
  const end = () => new Promise<void>((resolve) => pool.end(() => resolve()));
  let maxPacket: number;
  try {
    ({ maxPacket } = await checkServer(pool));
  } catch (error) {
    await end();
    throw classifyDatabaseError(error, maskUrl(url)) ?? error;
  }
  // One statement's parameters travel in one packet; the SQL text of a multi-row INSERT needs room too.
  const statementBytes = maxPacket - 64 * 1024;
  return connectionOver(
    { dialect: MARIADB, displayUrl: maskUrl(url), url, reopenable: true, statementBytes },
    {
      run: (statement) => runOnPool(pool, statement.sql, statement.parameters),
      kysely: async ({ mariadbKysely }) => mariadbKysely(kyselyPool(pool)),
      close: end,
    },
  );
}
