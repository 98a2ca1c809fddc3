// The static list of migrations, compiled into the binary. Append only; never edit a shipped one.
import type { Migration } from "kysely/migration";
import type { DialectInfo } from "../dialect.ts";
import { initial } from "./0001-initial.ts";
import { spoolImport } from "./0002-spool-import.ts";
import { scheduleAndLimits } from "./0003-schedule-limits.ts";
import { sendTimeChecks } from "./0004-send-time-checks.ts";

export function migrations(d: DialectInfo): Record<string, Migration> {
  return {
    "0001-initial": initial(d),
    "0002-spool-import": spoolImport(d),
    "0003-schedule-limits": scheduleAndLimits(d),
    "0004-send-time-checks": sendTimeChecks(d),
  };
}
