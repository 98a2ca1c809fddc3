// `mailer send-mail`: one pass through the queue (cron, every minute). Prints one summary line.
import { openContext, type GlobalOptions } from "../context.ts";
import { runPass, summaryLine } from "../engine/pass.ts";
import { stopOnSignals } from "./stop-signals.ts";

export async function run(_args: string[], options: GlobalOptions): Promise<number> {
  const ctx = await openContext(options);
  const stop = stopOnSignals(ctx.logger);
  try {
    if (ctx.config.delivery.pause_send) {
      ctx.logger.info("sending is paused (delivery.pause_send = true); quitting");
      return 0;
    }
    const db = await ctx.database();
    const result = await runPass({ config: ctx.config, logger: ctx.logger, db }, { signal: stop.signal });
    // A lock held elsewhere is the normal case of overlapping cron runs: one log line, exit 0.
    if (!result.lockHeld) process.stdout.write(summaryLine(result) + "\n");
    return 0;
  } finally {
    stop.dispose();
    await ctx.close();
  }
}
