// `mailer migrate` and the schema check every other command makes before touching the queue.
import type { Migration, MigrationResult, Migrator } from "kysely/migration";
import type { Config } from "../config/types.ts";
import { ConfigError, MailerError, EXIT, errorText } from "../errors.ts";
import { classifyDatabaseError, databaseOf, openConnection, type Connection, type Database } from "./connect.ts";
import { isMissingTable } from "./classify-error.ts";
import { MIGRATION_NAMES, migrations } from "./migrations/index.ts";

// Our own names, so the Kysely bookkeeping tables sit beside mailer_* and are recognisable.
export const MIGRATION_TABLE = "mailer_migration";
export const MIGRATION_LOCK_TABLE = "mailer_migration_lock";

/** Kysely's migrator loads only when there is something to migrate: every other command's schema
 * check is one query, and a short command (sendmail from cron) starts without it. */
async function migrator(db: Database, list?: Record<string, Migration>): Promise<Migrator> {
  const { Migrator } = await import("kysely/migration");
  return new Migrator({
    db: db.kysely,
    provider: { getMigrations: async () => list ?? (await migrations(db.dialect)) },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
}

export interface MigrateOutcome {
  applied: string[];
  results: MigrationResult[];
}

/** Applies every pending migration under Kysely's migration lock (an advisory lock on PostgreSQL,
 * GET_LOCK on MariaDB, BEGIN IMMEDIATE on SQLite), each in a transaction: a failed one leaves the
 * database as it was, except on MariaDB, whose DDL commits itself. */
export async function migrateToLatest(db: Database, list?: Record<string, Migration>): Promise<MigrateOutcome> {
  const { error, results = [] } = await (await migrator(db, list)).migrateToLatest();
  if (error) {
    const failed = results.find((r) => r.status === "Error")?.migrationName ?? "?";
    // MariaDB commits each schema change as it runs: what a failed migration did before it failed stays.
    const outcome = db.kysely.getExecutor().adapter.supportsTransactionalDdl
      ? "the database is unchanged"
      : "its schema changes before the failure stay (this database cannot roll them back; see docs/schema.md)";
    throw (
      classifyDatabaseError(error, db.displayUrl) ??
      new MailerError(`migration ${failed} failed; ${outcome}: ${errorText(error)}`, EXIT.software, { cause: error })
    );
  }
  return { applied: results.filter((r) => r.status === "Success").map((r) => r.migrationName), results };
}

export interface SchemaState {
  applied: string[];
  pending: string[];
  /** Migrations in the database this binary does not know: it is older than the schema. */
  unknown: string[];
}

/** Written out rather than built: a Connection may be without Kysely. */
const APPLIED_MIGRATIONS = { sql: `select name from ${MIGRATION_TABLE} order by name`, parameters: [] };

export async function schemaState(db: Connection): Promise<SchemaState> {
  const known = MIGRATION_NAMES;
  let applied: string[] = [];
  try {
    const rows = await db.executeQuery<{ name: string }>(APPLIED_MIGRATIONS);
    applied = rows.rows.map((r) => r.name);
  } catch (error) {
    if (!isMissingTable(error)) throw classifyDatabaseError(error, db.displayUrl) ?? error;
  }
  return {
    applied,
    pending: known.filter((name) => !applied.includes(name)),
    unknown: applied.filter((name) => !known.includes(name)),
  };
}

/** Before a command uses the queue: the embedded SQLite default migrates itself (nothing to set up);
 * PostgreSQL, shared by many processes and owned by an operator, must be migrated explicitly. */
export async function ensureSchema(db: Connection): Promise<void> {
  const state = await schemaState(db);
  if (state.unknown.length > 0) {
    throw new ConfigError(
      `database ${db.displayUrl} has migrations this mailer does not know (${state.unknown.join(", ")}): upgrade the binary`,
    );
  }
  if (state.pending.length === 0) return;
  if (!db.dialect.capabilities.multipleConnections) {
    await migrateToLatest(await db.database());
    return;
  }
  throw new ConfigError(
    `database ${db.displayUrl} is not migrated (${state.pending.length} pending: ${state.pending.join(", ")}): run \`mailer migrate\``,
  );
}

/** Opens config.database.url and checks its schema (creating it for embedded SQLite; with `migrate`,
 * applying whatever is pending first). A database that fails that is closed again, and the error
 * classified (unreachable: TempFailError, exit 75; unmigrated: ConfigError, exit 78). On SQLite
 * without Kysely, unless it had to migrate (connect.ts Connection). */
export async function openCheckedConnection(config: Config, options: { migrate?: boolean } = {}): Promise<Connection> {
  const db = await openConnection(config.database.url, { busyTimeout: config.database.busy_timeout });
  try {
    if (options.migrate) await migrateToLatest(await db.database());
    await ensureSchema(db);
  } catch (error) {
    await db.close().catch(() => {});
    throw classifyDatabaseError(error, db.displayUrl) ?? error;
  }
  return db;
}

/** openCheckedConnection, with Kysely. */
export async function openCheckedDatabase(config: Config, options: { migrate?: boolean } = {}): Promise<Database> {
  return databaseOf(await openCheckedConnection(config, options));
}
