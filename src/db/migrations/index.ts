// The static list of migrations, compiled into the binary. Append only; never edit a shipped one.
// Each is loaded when migrations run: the schema check every command makes needs only the names, and
// a short command then loads no Kysely (connect.ts Connection).
import type { Migration } from "kysely/migration";
import type { DialectInfo } from "../dialect.ts";

const MIGRATIONS: Record<string, () => Promise<(d: DialectInfo) => Migration>> = {
  "0001-initial": async () => (await import("./0001-initial.ts")).initial,
  "0002-spool-import": async () => (await import("./0002-spool-import.ts")).spoolImport,
  "0003-schedule-limits": async () => (await import("./0003-schedule-limits.ts")).scheduleAndLimits,
  "0004-send-time-checks": async () => (await import("./0004-send-time-checks.ts")).sendTimeChecks,
};

/** Every migration's name, in order. */
export const MIGRATION_NAMES = Object.keys(MIGRATIONS);

export async function migrations(d: DialectInfo): Promise<Record<string, Migration>> {
  return Object.fromEntries(await Promise.all(MIGRATION_NAMES.map(async (name) => [name, (await MIGRATIONS[name]!())(d)] as const)));
}
