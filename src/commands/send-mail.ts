// `mailer send-mail`: one pass through the queue (cron, every minute). Prints one summary line.
// At a terminal, a pass draining a backlog also shows a progress line (progress.ts); under cron or
// in a pipe it never does.
import { logFormatFor, loggerFor, openContext, type Context, type GlobalOptions } from "../context.ts";
import type { Database } from "../db/connect.ts";
import { dueTotal, queueSummary } from "../db/queries/inspect.ts";
import { runPass, summaryLine } from "../engine/pass.ts";
import { ProgressLine } from "../engine/progress.ts";
import { switchableLogger, type Logger } from "../log.ts";
import { isTerminal, writeStderr, writeStdout } from "../runtime.ts";
import { stopOnSignals } from "./stop-signals.ts";

/** Fewer sendable messages than this and a pass is over too soon for a progress line to help. */
const PROGRESS_MIN_TOTAL = 200;

export async function run(_args: string[], options: GlobalOptions): Promise<number> {
  const ctx = await openContext(options);
  // Switchable so that, once a progress line is up, every line (a Ctrl-C notice too) prints above it.
  const logger = switchableLogger(ctx.logger);
  const stop = stopOnSignals(logger);
  try {
    if (ctx.config.delivery.pause_send) {
      ctx.logger.info("sending is paused (delivery.pause_send = true); quitting");
      return 0;
    }
    const db = await ctx.database();
    const progress = await progressLine(ctx, options, db);
    if (progress) logger.use(progress.logger);
    let result;
    try {
      result = await runPass(
        { config: ctx.config, logger, db },
        { signal: stop.signal, onOutcome: progress ? (o) => progress.line.record(o) : undefined, waitForLimits: true },
      );
    } finally {
      progress?.line.clear();
      logger.use(ctx.logger);
    }
    // A lock held elsewhere is the normal case of overlapping cron runs: one log line, exit 0.
    if (!result.lockHeld) await writeStdout(summaryLine(result) + "\n");
    return 0;
  } finally {
    stop.dispose();
    await ctx.close();
  }
}

/** Only for a person at a terminal reading text logs (JSON is for machines), and only for a backlog:
 * the one count query it costs is skipped otherwise. Log lines are then printed above the line. */
async function progressLine(
  ctx: Context,
  options: GlobalOptions,
  db: Database,
): Promise<{ line: ProgressLine; logger: Logger } | null> {
  if (!isTerminal(2) || logFormatFor(ctx.config, options) !== "text") return null;
  const total = dueTotal(await queueSummary(db.kysely, db.dialect.toDb(ctx.clock())));
  if (total <= PROGRESS_MIN_TOTAL) return null;
  const line = new ProgressLine({ total, write: (text) => writeStderr(text) });
  return { line, logger: loggerFor(ctx.config, options, { write: (text) => line.above(text) }) };
}
