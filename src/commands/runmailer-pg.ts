// `mailer runmailer-pg`: PostgreSQL only. Sends as soon as mail is committed (LISTEN/NOTIFY) and on
// a beat of delivery.empty_queue_sleep seconds, until SIGTERM/SIGINT. The config is live as under
// runmailer (live-config.ts); a new database URL gets the trigger and a new LISTEN connection.
// The parts: pg/trigger.ts (NOTIFY on insert), pg/listener.ts (the LISTEN connection),
// pg/scheduler.ts (when passes run). See docs/deployment.md.
import { sql } from "kysely";
import { openContext, type GlobalOptions } from "../context.ts";
import type { Database } from "../db/connect.ts";
import { hasSendable } from "../db/queries/claims.ts";
import { idleMs, passAndDecide } from "../engine/loop.ts";
import { ConfigError } from "../errors.ts";
import { switchableLogger } from "../log.ts";
import { Listener } from "../pg/listener.ts";
import { serveWorkerMetrics, workerMetrics } from "../web/metrics/worker.ts";
import { PassScheduler } from "../pg/scheduler.ts";
import { CHANNEL, installNotifyTrigger } from "../pg/trigger.ts";
import { startLiveConfig, type LiveConfig } from "./live-config.ts";
import { stopOnSignals } from "./stop-signals.ts";

/** Checked by capability, not by name: any database with LISTEN/NOTIFY would do. */
function requireListenNotify(db: Database): void {
  if (db.dialect.capabilities.listenNotify) return;
  throw new ConfigError(
    `runmailer-pg needs PostgreSQL (LISTEN/NOTIFY), but database.url is ${db.displayUrl}; ` +
      "use `mailer runmailer` (polls every delivery.empty_queue_sleep seconds) or `mailer send-mail` from cron",
  );
}

export async function run(_args: string[], options: GlobalOptions): Promise<number> {
  const ctx = await openContext(options);
  const logger = switchableLogger(ctx.logger);
  const stop = stopOnSignals(logger);
  let listener: Listener | null = null;
  const metrics = workerMetrics("runmailer-pg");
  try {
    requireListenNotify(await ctx.database());
    await installNotifyTrigger(await ctx.database(), logger);
    // `live` is read lazily (only once passes and listeners run, after it is assigned below).
    let live!: LiveConfig;
    const scheduler = new PassScheduler({
      logger,
      signal: stop.signal,
      idleMs: () => idleMs(live.db, live.config.delivery.empty_queue_sleep * 1000, logger),
      sendable: () => hasSendable(live.db, new Date()),
      pass: () => passAndDecide({ ...live.env(), observer: metrics.observer }, stop.signal, { commitsAnnounced: listener?.listening ?? false }),
    });
    const listen = (db: Database) =>
      new Listener({
        url: db.url,
        channel: CHANNEL,
        logger,
        onNotify: () => scheduler.request("notify"),
        // Whatever was committed while nobody listened was announced to no one: look now.
        onListening: (catchUp) => {
          metrics.listening(true);
          if (catchUp) scheduler.request("reconnect");
        },
        onDown: () => metrics.listening(false),
        sendProbe: async (payload) => void (await sql`select pg_notify(${CHANNEL}, ${payload})`.execute(db.kysely)),
      }).start();
    live = await startLiveConfig(ctx, options, {
      logger,
      onSpoolFile: () => scheduler.request("spool"),
      async prepare(next, current) {
        if (next.db === current.db) return;
        // A new database without LISTEN/NOTIFY throws here, before anything switches: the watcher
        // logs it and the running config (database and LISTEN included) stays.
        requireListenNotify(next.db);
        await installNotifyTrigger(next.db, logger);
      },
      async onApplied(now, before) {
        if (now.db === before.db) return;
        await listener?.stop();
        listener = listen(now.db);
        // As at start: the pass waits for LISTEN, else mail committed in between waits for the beat.
        await untilAborted(listener.firstAttempt, stop.signal);
        scheduler.request("reconnect");
      },
    });
    ctx.onClose(() => live.close());
    // [metrics] listen is read at start; a reload does not move the metrics server.
    const metricsServer = await serveWorkerMetrics(live.config.metrics.listen, metrics, logger);
    ctx.onClose(() => metricsServer?.stop());
    listener = listen(live.db);
    logger.info("runmailer-pg started", {
      database: live.db.displayUrl,
      channel: CHANNEL,
      beat_s: live.config.delivery.empty_queue_sleep,
      config: live.config.source ?? "(defaults)",
    });
    // The first pass waits for LISTEN (or its first failure): mail committed between that pass and
    // LISTEN would otherwise wait for the beat.
    await untilAborted(listener.firstAttempt, stop.signal);
    await scheduler.run();
    logger.info("runmailer-pg stopped");
    return 0;
  } finally {
    await (listener as Listener | null)?.stop();
    stop.dispose();
    await ctx.close();
  }
}

function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  return Promise.race([promise, new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }))]);
}

