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
]);

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
  if ((code === "42P01" && /"mailer_/.test(text)) || /no such table: mailer_/.test(text)) {
    return new ConfigError(`database ${where} has no mailer schema: run \`mailer migrate\` first (${text})`);
  }
  if (code === "3D000" || code === "28P01" || code === "28000") {
    return new ConfigError(`database ${where}: ${text}`);
  }
  // SQLite's extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, …) share their primary's prefix.
  const sqlitePrimary = code.replace(/^(SQLITE_[A-Z]+?)_[A-Z_]+$/, "$1");
  if (
    TEMPORARY_CODES.has(code) || TEMPORARY_CODES.has(sqlitePrimary) ||
    /SQLITE_(BUSY|LOCKED|FULL|READONLY|IOERR|CANTOPEN)|database is locked|unable to open database|disk is full|disk I\/O error|readonly database/i.test(text)
  ) {
    return new TempFailError(`database ${where} unavailable: ${text}`, { cause: error });
  }
  return null;
}
