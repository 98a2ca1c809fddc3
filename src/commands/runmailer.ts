// `mailer runmailer`: passes in a loop until SIGTERM/SIGINT (systemd, or a terminal).
import { openContext, type GlobalOptions } from "../context.ts";
import { runLoop } from "../engine/loop.ts";
import { summaryLine } from "../engine/pass.ts";
import { stopOnSignals } from "./stop-signals.ts";

export async function run(_args: string[], options: GlobalOptions): Promise<number> {
  const ctx = await openContext(options);
  const stop = stopOnSignals(ctx.logger);
  try {
    const db = await ctx.database();
    ctx.logger.info("runmailer started", { database: db.displayUrl, sleep_s: ctx.config.delivery.empty_queue_sleep });
    await runLoop({
      signal: stop.signal,
      env: () => ({ config: ctx.config, logger: ctx.logger, db }),
      onPass: (result) => {
        if (result.sent + result.deferred + result.failed + result.dontSend > 0) ctx.logger.info(summaryLine(result));
      },
    });
    ctx.logger.info("runmailer stopped");
    return 0;
  } finally {
    stop.dispose();
    await ctx.close();
  }
}
