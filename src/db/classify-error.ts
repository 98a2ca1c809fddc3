// Which database errors mean "try again" (exit 75) or "fix the configuration" (exit 78). In a module of
// its own, without Kysely or a driver: the CLI's error reporting needs it for every command, also
// the ones that never open a database (`--version`, `sendmail` into the spool), and loading Kysely
// for them was start-up time spent on nothing.
import { ConfigError, PermissionError, TempFailError, errorText } from "../errors.ts";

const TEMPORARY_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND",
  "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED",
  "57P01", "57P02", "57P03", "53300", "08000", "08001", "08003", "08006",
  // Read-only (a hot standby after a failover, default_transaction_read_only) and disk full: both
  // pass once an operator or the cluster fixes them, and the caller must keep what it holds.
  "25006", "53100",
  "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN",
  // MariaDB (mysql2's names): a lost or refused connection, a server going down, a deadlock victim or a
  // lock wait that ran out (the transaction was rolled back: running it again is the cure), read-only,
  // a full disk.
  "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT", "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR", "EPIPE",
  "ER_SERVER_SHUTDOWN", "ER_CONNECTION_KILLED", "ER_QUERY_INTERRUPTED", "ER_CON_COUNT_ERROR", "ER_TOO_MANY_USER_CONNECTIONS",
  "ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT", "ER_OPTION_PREVENTS_STATEMENT", "ER_READ_ONLY_MODE", "ER_DISK_FULL",
  "ER_RECORD_FILE_FULL", "ER_OUT_OF_RESOURCES", "ER_CANT_CREATE_THREAD",
]);

/** What mysql2 says (with no code) to a statement on a connection it closed after a fatal error:
 * the connection was lost, and the pool has dropped it. */
export const CLOSED_STATE_MESSAGE = "Can't add new command when connection is in closed state";

/** mysql2's answer to a statement on a connection it closed after a fatal error (see above). */
export function isClosedConnectionError(error: unknown): boolean {
  const e = error as { fatal?: unknown; message?: unknown } | null;
  return e?.fatal === true && e.message === CLOSED_STATE_MESSAGE;
}

/** Refusals that configuration fixes: a database that does not exist, a wrong user or password. */
const CONFIG_CODES = new Set([
  "3D000", "28P01", "28000",
  "ER_BAD_DB_ERROR", "ER_ACCESS_DENIED_ERROR", "ER_DBACCESS_DENIED_ERROR", "ER_HOST_NOT_PRIVILEGED",
]);

/** A statement met a table that is not there (PostgreSQL, SQLite, MariaDB). */
export function isMissingTable(error: unknown): boolean {
  const code = errorCode(error);
  return code === "42P01" || code === "ER_NO_SUCH_TABLE" || /no such table/.test(errorText(error));
}

function errorCode(error: unknown): string {
  const e = error as { code?: unknown; errno?: unknown };
  return typeof e?.code === "string" ? e.code : "";
}

/** Turns "the database is not there right now" into TempFailError (exit 75) and "the schema is
 * missing" into ConfigError (exit 78); anything else is left alone (returns null). */
export function classifyDatabaseError(error: unknown, where: string): Error | null {
  if (error instanceof TempFailError || error instanceof ConfigError || error instanceof PermissionError) return error;
  const code = errorCode(error);
  const text = errorText(error);
  // The missing table is one of ours: "mailer_message" (PostgreSQL), "no such table: mailer_message"
  // (SQLite), 'db.mailer_message' (MariaDB, whose database name may itself start with mailer_).
  if (isMissingTable(error) && /(?:"|: |\.)mailer_/.test(text)) {
    return new ConfigError(`database ${where} has no mailer schema: run \`mailer migrate\` first (${text})`);
  }
  if (CONFIG_CODES.has(code)) {
    return new ConfigError(`database ${where}: ${text}`);
  }
  // SQLite's extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, …) share their primary's prefix.
  const sqlitePrimary = code.replace(/^(SQLITE_[A-Z]+?)_[A-Z_]+$/, "$1");
  if (
    TEMPORARY_CODES.has(code) || TEMPORARY_CODES.has(sqlitePrimary) || isClosedConnectionError(error) ||
    /SQLITE_(BUSY|LOCKED|FULL|READONLY|IOERR|CANTOPEN)|database is locked|unable to open database|disk is full|disk I\/O error|readonly database/i.test(text)
  ) {
    return new TempFailError(`database ${where} unavailable: ${text}`, { cause: error });
  }
  return null;
}
