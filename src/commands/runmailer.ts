// `mailer runmailer`: passes in a loop until SIGTERM/SIGINT (systemd, or a terminal). The config file
// is watched and SIGHUP reloads it: a valid new one applies from the next pass (live-config.ts).
import { openContext, type GlobalOptions } from "../context.ts";
import { switchableLogger } from "../log.ts";
import { LoopWake, runLoop } from "../engine/loop.ts";
import { serveWorkerMetrics, workerMetrics } from "../web/metrics/worker.ts";
import { startLiveConfig } from "./live-config.ts";
import { stopOnSignals } from "./stop-signals.ts";

export async function run(_args: string[], options: GlobalOptions): Promise<number> {
  const ctx = await openContext(options);
  // Switchable: a reloaded [log] level or format reaches every line, the signal handlers' included.
  const logger = switchableLogger(ctx.logger);
  const stop = stopOnSignals(logger);
  try {
    const wake = new LoopWake();
    const live = await startLiveConfig(ctx, options, { logger, onSpoolFile: () => wake.wake() });
    ctx.onClose(() => live.close());
    // [metrics] listen is read at start; a reload does not move the metrics server.
    const metrics = workerMetrics("runmailer");
    const metricsServer = await serveWorkerMetrics(live.config.metrics.listen, metrics, logger);
    ctx.onClose(() => metricsServer?.stop());
    logger.info("runmailer started", {
      database: live.db.displayUrl,
      sleep_s: live.config.delivery.empty_queue_sleep,
      config: live.config.source ?? "(defaults)",
    });
    await runLoop({ signal: stop.signal, env: () => ({ ...live.env(), observer: metrics.observer }), wake });
    logger.info("runmailer stopped");
    return 0;
  } finally {
    stop.dispose();
    await ctx.close();
  }
}
