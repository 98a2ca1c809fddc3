// Kysely over each database's connections. Loaded only when a command first builds a query: Kysely's
// module evaluation was the largest single part of a short command's start-up (connect.ts Connection),
// so `sendmail -t` and `mailer queue` queue their message without it, on every database.
import {
  CompiledQuery,
  Kysely,
  MysqlAdapter,
  MysqlDialect,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type QueryResult,
  type SqliteDialectConfig,
} from "kysely";
import { errorText } from "../errors.ts";
import type { SqliteHandle } from "../runtime.ts";
import type { Connection, Database, Statement } from "./connect.ts";
import { registerDatabase } from "./dialect.ts";
import type { kyselyPool } from "./mariadb-pool.ts";
import type { PgConnections } from "./pg-connections.ts";
import type { Schema } from "./schema.ts";

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

export const sqliteKysely = (handle: SqliteHandle) => new Kysely<Schema>({ dialect: new MailerSqliteDialect({ database: handle }) });

/** `connections`: postgres.js's, as pg-connections.ts makes them survive the server closing them. */
export async function postgresKysely(connections: PgConnections): Promise<Kysely<Schema>> {
  const { PostgresJSDialect } = await import("kysely-postgres-js");
  return new Kysely<Schema>({ dialect: new PostgresJSDialect({ postgres: connections }) });
}

export const mariadbKysely = (pool: ReturnType<typeof kyselyPool>) => new Kysely<Schema>({ dialect: new MariadbDialect({ pool: pool as never }) });

/** A statement run through Kysely's pipeline (or one of its transactions'), as any query it builds is. */
const runThrough = <R>(kysely: Kysely<any>, statement: Statement): Promise<QueryResult<R>> =>
  kysely.executeQuery<R>(CompiledQuery.raw(statement.sql, [...statement.parameters]));

/** A Database made of a connection's facts and its Kysely. Statements written out run on `run` (the
 * connection's driver), or through Kysely when there is none. */
export function databaseOver(facts: Omit<Connection, "executeQuery" | "database">, kysely: Kysely<Schema>, run?: Connection["executeQuery"]): Database {
  const db: Database = {
    ...facts,
    kysely,
    executeQuery: run ?? ((statement) => runThrough(kysely, statement)),
    database: () => Promise.resolve(db),
  };
  registerDatabase(db, runThrough);
  return db;
}
