// The mysql2 pool behind Kysely's MysqlDialect, set up for the queue (MariaDB ≥ 10.6):
//
// - Every session runs in UTC (DATETIME has no zone: what is written is what a worker in any zone
//   reads back), in READ COMMITTED (claims lock the rows they take with SKIP LOCKED and nothing else:
//   no gap locks for another worker's INSERT to wait on), and in strict mode (a value that does not
//   fit is an error, never silently cut).
// - Statements with parameters go as server-side prepared statements: a message's bytes travel as
//   themselves, not as quoted hex twice their size (which max_allowed_packet would count), and a
//   Uint8Array is bound as bytes (the text protocol's quoting knows only Buffer).
import type { QueryResult } from "kysely";
import type { Pool, PoolConnection } from "mysql2";
import { ConfigError } from "../errors.ts";
import { isClosedConnectionError } from "./classify-error.ts";

const SESSION_SETUP = [
  "set session transaction isolation level read committed",
  "set time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
];

/** The least MariaDB the dialect needs: SKIP LOCKED arrived in 10.6 (INSERT … RETURNING in 10.5). */
const OLDEST = [10, 6];

export interface MariadbPoolOptions {
  maxConnections: number;
}

/** mysql2 takes a mysql:// URI; mariadb:// names the same server. */
const asMysqlUri = (url: string) => url.replace(/^mariadb:/, "mysql:");

export async function createMariadbPool(url: string, options: MariadbPoolOptions): Promise<Pool> {
  const { default: mysql } = await import("mysql2");
  const pool = mysql.createPool({
    uri: asMysqlUri(url),
    connectionLimit: options.maxConnections,
    maxIdle: options.maxConnections,
    idleTimeout: 60_000,
    connectTimeout: 10_000,
    enableKeepAlive: true,
    timezone: "Z",
    charset: "UTF8MB4_BIN",
    // BIGINT ids as numbers (they stay far below 2^53), DECIMAL sums as numbers.
    supportBigNumbers: true,
    decimalNumbers: true,
    // Per connection; the server allows 16,382 in all (max_prepared_stmt_count).
    maxPreparedStatements: 200,
  });
  pool.on("connection", (connection) => {
    for (const statement of SESSION_SETUP) connection.query(statement);
  });
  return pool;
}

/** Refuses a server the dialect cannot run on, saying why; else its version and max_allowed_packet. */
export async function checkServer(pool: Pool): Promise<{ version: string; maxPacket: number }> {
  const row = await new Promise<{ v: string; p: number }>((resolve, reject) =>
    pool.query("select version() as v, @@max_allowed_packet as p", (error, rows) =>
      error ? reject(error) : resolve((rows as Array<{ v: string; p: number }>)[0]!),
    ),
  );
  const version = String(row.v);
  if (!/mariadb/i.test(version)) {
    throw new ConfigError(
      `database.url names a MySQL server (${version}); mailer's mysql:// dialect runs on MariaDB 10.6 or later, ` +
        "whose INSERT … RETURNING and DELETE … RETURNING it uses (see docs/schema.md)",
    );
  }
  const [major = 0, minor = 0] = version.split(/[.-]/).map(Number);
  if (major < OLDEST[0]! || (major === OLDEST[0] && minor < OLDEST[1]!)) {
    throw new ConfigError(`database.url names MariaDB ${version}; mailer needs MariaDB ${OLDEST.join(".")} or later (SELECT … SKIP LOCKED)`);
  }
  return { version, maxPacket: Number(row.p) };
}

const wrapped = new WeakMap<PoolConnection, PreparedConnection>();

const ROLLBACK = /^\s*rollback\s*$/i;

/** What Kysely's MysqlDriver calls on a connection, with `query` sending parameterised statements as
 * prepared ones. One wrapper per pooled connection: the driver keeps its own state per object. */
export class PreparedConnection {
  constructor(readonly raw: PoolConnection) {}
  get threadId() {
    return this.raw.threadId;
  }
  query(sql: string, parameters: readonly unknown[], callback: (error: unknown, result: unknown) => void): void {
    if (parameters.length > 0) return void this.raw.execute(sql, parameters as never, callback);
    // The server ends a transaction with its connection. Once mysql2 has closed the connection after
    // that fatal error, the rollback Kysely sends has nothing left to do; failing it would make Kysely
    // throw the rollback's error ("closed state", which says nothing) instead of the one that ended
    // the transaction (a lost connection: temporary, the worker waits it out).
    if (ROLLBACK.test(sql)) {
      return void this.raw.query(sql, (error: unknown, result: unknown) =>
        isClosedConnectionError(error) ? callback(null, []) : callback(error, result),
      );
    }
    this.raw.query(sql, callback);
  }
  release(): void {
    this.raw.release();
  }
  destroy(): void {
    this.raw.destroy();
  }
}

/** One statement outside any transaction, on a pooled connection, without Kysely: the result as
 * Kysely's MysqlDriver gives it (rows for a result set; counts for an OK packet). */
export function runOnPool<R>(pool: Pool, sql: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
  return new Promise((resolve, reject) =>
    pool.getConnection((error, raw) => {
      if (error) return reject(error);
      preparedConnection(raw).query(sql, parameters, (failure, result) => {
        raw.release();
        if (failure) return reject(failure);
        if (Array.isArray(result)) return resolve({ rows: result as R[] });
        const ok = result as { affectedRows?: number; insertId?: number };
        resolve({
          rows: [],
          numAffectedRows: ok.affectedRows === undefined ? undefined : BigInt(ok.affectedRows),
          insertId: ok.insertId ? BigInt(ok.insertId) : undefined,
        });
      });
    }),
  );
}

function preparedConnection(raw: PoolConnection): PreparedConnection {
  let connection = wrapped.get(raw);
  if (!connection) wrapped.set(raw, (connection = new PreparedConnection(raw)));
  return connection;
}

/** The pool as Kysely's MysqlDialect takes it, handing out PreparedConnections. */
export function kyselyPool(pool: Pool): {
  getConnection(callback: (error: unknown, connection: PreparedConnection) => void): void;
  end(callback: (error: unknown) => void): void;
} {
  return {
    getConnection(callback: (error: unknown, connection: PreparedConnection) => void) {
      pool.getConnection((error, raw) => {
        if (error) return callback(error, undefined as never);
        callback(null, preparedConnection(raw));
      });
    },
    end(callback: (error: unknown) => void) {
      pool.end(callback);
    },
  };
}
