// `mailer purge-mail-log DAYS [-r success|failure|dont_send|expired|all]`: delete old log rows (nightly).
import { openContext, type GlobalOptions } from "../context.ts";
import { purgeLogs } from "../db/queries/maintenance.ts";
import { LOG_RESULTS, type LogResult } from "../db/schema.ts";
import { UsageError } from "../errors.ts";

const RESULTS: Record<string, LogResult[]> = {
  success: ["success"],
  failure: ["failure"],
  dont_send: ["dont_send"],
  "dont-send": ["dont_send"],
  expired: ["expired"],
  // django-mailer's "all" is success and failure (it never wrote the other kinds); ours are real rows.
  all: [...LOG_RESULTS],
};

export async function run(args: string[], options: GlobalOptions & { result?: string }): Promise<number> {
  const days = Number(args[0]);
  if (args[0] === undefined || args[0].trim() === "" || !Number.isInteger(days)) {
    throw new UsageError(`purge-mail-log: DAYS must be a whole number of days, got ${JSON.stringify(args[0] ?? "")}`);
  }
  const which = String(options.result ?? "success");
  const results = RESULTS[which];
  if (!results) throw new UsageError(`purge-mail-log: -r must be success, failure, dont_send, expired or all, got ${JSON.stringify(which)}`);
  const ctx = await openContext(options);
  try {
    const db = await ctx.database();
    const before = new Date(ctx.clock().getTime() - days * 86_400_000);
    const count = await purgeLogs(db, before, results);
    process.stdout.write(`${count} log entries deleted\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}
