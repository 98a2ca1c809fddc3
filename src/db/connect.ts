// A database URL becomes a Kysely instance plus the facts about that database (dialect.ts).
import {
  CompiledQuery,
  Kysely,
  MysqlAdapter,
  MysqlDialect,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type SqliteDialectConfig,
} from "kysely";
import { accessSync, constants, existsSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError, PermissionError, TempFailError, errorText } from "../errors.ts";
import { openSqlite, type SqliteHandle } from "../runtime.ts";
import { MARIADB, POSTGRES, SQLITE, registerDatabase, type DialectInfo } from "./dialect.ts";
import { maskUrl, serverKind } from "./db-url.ts";
import { classifyDatabaseError } from "./classify-error.ts";
import { byteaParameter, byteaResult } from "./bytea.ts";

export { classifyDatabaseError };
import type { Schema } from "./schema.ts";

export interface Database {
  kysely: Kysely<Schema>;
  dialect: DialectInfo;
  /** The URL with any password masked, for logs and `status`. */
  displayUrl: string;
  /** One compiled read on a connection of Kysely's own pool, without Kysely's query pipeline
   * (PostgreSQL only): for the read made before every send (dont-send-check.ts), where that pipeline
   * and postgres.js's reserve() cost about 40 µs of the main thread per message. (MariaDB's through
   * mysql2's pool.execute measured no faster than through Kysely.) */
  readRows?: <R>(query: CompiledQuery<R>) => Promise<R[]>;
  /** The SQLite handle behind Kysely (SQLite only), for a read on a hot path that is synchronous
   * anyway (dont-send-check.ts). */
  sqlite?: SqliteHandle;
  /** The connection URL, for a dedicated LISTEN connection. */
  url: string;
  /** The most parameter bytes one statement may carry (MariaDB's max_allowed_packet, less room for
   * the SQL), or null where only the parameter count is bounded (insert-rows.ts splits by it). */
  statementBytes: number | null;
  /** Opening `url` again reaches this same data (false for an in-memory SQLite database, which only
   * this handle sees): what a second connection, e.g. a worker thread's, needs. */
  reopenable: boolean;
  close(): Promise<void>;
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

/** SQLite transactions begin IMMEDIATE: the write lock is taken up front, so two writers queue on
 * busy_timeout instead of failing with SQLITE_BUSY when a read lock would be upgraded. */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }

  /** SQLite rolls a transaction back by itself on some errors (a full disk, an I/O error): Kysely's
   * own ROLLBACK then fails with "no transaction is active", and that error would replace the one
   * that says what happened (and makes it a "try again" exit 75 rather than a crash). */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await super.rollbackTransaction(connection);
    } catch (error) {
      if (!/no transaction is active/i.test(errorText(error))) throw error;
    }
  }
}

/** SQLite does run DDL in transactions; saying so lets the migrator hold BEGIN IMMEDIATE as its lock,
 * which serialises `mailer migrate` processes sharing one file. */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class MailerSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver() {
    return new ImmediateSqliteDriver(this.#config);
  }
  override createAdapter() {
    return new TransactionalDdlSqliteAdapter();
  }
}

export async function openDatabase(url: string, options: OpenOptions = {}): Promise<Database> {
  const kind = url.startsWith("sqlite:") ? "sqlite" : serverKind(url);
  if (kind === null) throw new ConfigError(`database.url: expected sqlite:PATH, postgres://… or mysql://…, got ${JSON.stringify(maskUrl(url))}`);
  const open = { sqlite: openSqliteDatabase, postgres: openPostgresDatabase, mariadb: openMariaDatabase }[kind];
  const db = await open(url, options);
  registerDatabase(db);
  return db;
}

async function openSqliteDatabase(url: string, options: OpenOptions): Promise<Database> {
  const path = url.slice("sqlite:".length);
  // Checked first: a file this user may read but not write opens, and fails only at the first write.
  const denied = path === ":memory:" ? null : sqlitePermissionProblem(path);
  if (denied) throw denied;
  let handle;
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
  const kysely = new Kysely<Schema>({ dialect: new MailerSqliteDialect({ database: handle }) });
  return { kysely, sqlite: handle, dialect: SQLITE, displayUrl: url, url, reopenable: path !== ":memory:", statementBytes: null, close: once(() => kysely.destroy()) };
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

async function openPostgresDatabase(url: string, options: OpenOptions): Promise<Database> {
  const [{ PostgresJSDialect }, { reservableConnections }] = await Promise.all([
    import("kysely-postgres-js"),
    import("./pg-connections.ts"),
  ]);
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
  // postgres.js bug this avoids).
  const connections = reservableConnections(url, { ...settings, max: options.maxConnections ?? 4 });
  const kysely = new Kysely<Schema>({ dialect: new PostgresJSDialect({ postgres: connections }) });
  return {
    kysely,
    dialect: POSTGRES,
    displayUrl: maskUrl(url),
    url,
    reopenable: true,
    statementBytes: null,
    readRows: <R>(query: CompiledQuery<R>) => connections.read(query.sql, query.parameters) as Promise<R[]>,
    close: once(() => kysely.destroy()),
  };
}

/** MariaDB has INSERT … RETURNING and DELETE … RETURNING (not UPDATE's: dialect.pickAndChange). */
class MariadbAdapter extends MysqlAdapter {
  override get supportsReturning(): boolean {
    return true;
  }
}

class MariadbDialect extends MysqlDialect {
  override createAdapter() {
    return new MariadbAdapter();
  }
}

async function openMariaDatabase(url: string, options: OpenOptions): Promise<Database> {
  // mysql2 is loaded only for a MariaDB URL, as postgres.js is only for a PostgreSQL one.
  const { checkServer, createMariadbPool, kyselyPool } = await import("./mariadb-pool.ts");
  const pool = await createMariadbPool(url, { maxConnections: options.maxConnections ?? 4 });
  let maxPacket: number;
  try {
    ({ maxPacket } = await checkServer(pool));
  } catch (error) {
    await new Promise((resolve) => pool.end(resolve));
    throw classifyDatabaseError(error, maskUrl(url)) ?? error;
  }
  const kysely = new Kysely<Schema>({ dialect: new MariadbDialect({ pool: kyselyPool(pool) as never }) });
  // One statement's parameters travel in one packet; the SQL text of a multi-row INSERT needs room too.
  const statementBytes = maxPacket - 64 * 1024;
  return { kysely, dialect: MARIADB, displayUrl: maskUrl(url), url, reopenable: true, statementBytes, close: once(() => kysely.destroy()) };
}
