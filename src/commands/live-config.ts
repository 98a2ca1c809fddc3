// The long-running commands' view of a config that can change under them (runmailer, runmailer-pg):
// the file is watched (src/config/watch.ts) and SIGHUP reloads it; a valid new config is applied
// between passes. The logger is swapped at once (level, format); a new database URL is opened and
// its schema checked before anything switches, so a URL that does not work leaves the old config
// in force; the old database is closed once the pass still using it has finished. The database the
// run started on is the context's: closing it at the end is the context's job, not ours.
//
// Wiring (see runmailer.ts): `const live = await startLiveConfig(ctx, options, { logger });` then
// `env: () => live.env()` for the loop, `ctx.onClose(() => live.close())`.
import { configChanges } from "../config/diff.ts";
import type { Config } from "../config/types.ts";
import { watchConfig } from "../config/watch.ts";
import { loggerFor, type Context, type GlobalOptions } from "../context.ts";
import type { Database } from "../db/connect.ts";
import { openCheckedDatabase } from "../db/migrate.ts";
import type { EngineEnv } from "../engine/pass.ts";
import { TransportHolder } from "../engine/transport-holder.ts";
import { errorText } from "../errors.ts";
import type { SwitchableLogger } from "../log.ts";
import { watchSpool, type SpoolWatch } from "../intake/spool-watch.ts";
import { LocalRouting } from "../queue/local-routing.ts";
import { createTransport } from "../transports/index.ts";

export interface LiveState {
  config: Config;
  db: Database;
}

export interface LiveConfigOptions {
  /** Before a new config is applied, its database already open: throwing refuses the config (it is
   * logged, the running one stays, the new database is closed). E.g. runmailer-pg checks that the
   * new database has LISTEN/NOTIFY and installs its trigger there. */
  prepare?(next: LiveState, current: LiveState): Promise<void> | void;
  /** After a new config is applied: e.g. runmailer-pg re-LISTENs when `now.db !== before.db`.
   * The switch has happened by then; a failure here is logged, not undone. */
  onApplied?(now: LiveState, before: LiveState): Promise<void> | void;
  /** The logger to switch (a command may have handed it out already, e.g. to stopOnSignals). */
  logger: SwitchableLogger;
  /** A file arrived in [queue] spool (watched while one is configured, following reloads). */
  onSpoolFile?: () => void;
}

export interface LiveConfig {
  /** Follows reloads; hand it to everything that logs for the whole run. */
  readonly logger: SwitchableLogger;
  readonly config: Config;
  readonly db: Database;
  /** The current config, logger and database for the next pass. Call it only between passes: it
   * closes the databases a reload replaced, which no pass uses any more by then. */
  env(): EngineEnv;
  /** Stops watching and closes the transports and the databases opened on reloads. */
  close(): Promise<void>;
}

/** A change (an entry of configChanges) that the transport was built from: transports read only
 * [backend], and the SMTP one the log level (nodemailer's own lines at debug). */
const affectsTransport = (change: string) => change.startsWith("backend.") || /^log\.level[: ]/.test(change);

export async function startLiveConfig(ctx: Context, options: GlobalOptions, opts: LiveConfigOptions): Promise<LiveConfig> {
  const { logger } = opts;
  const started = await ctx.database();
  let state: LiveState = { config: ctx.config, db: started };
  const retired: Database[] = [];
  // One transport (one SMTP pool) for the whole run rather than one per pass, which would open an
  // SMTP session for every notified message. Built from the config of its time; a reload that
  // changes what it was built from gets a new one at the next pass, and the old one is closed then
  // (no pass uses it any more by that time).
  const newTransport = (config: Config) => new TransportHolder(() => createTransport(config, logger));
  let transport = newTransport(state.config);
  let staleTransport: TransportHolder | null = null;
  // Kept across passes so the spool import parses the aliases file once per change, not per pass.
  let routing = new LocalRouting(state.config.queue);
  let spoolWatch: SpoolWatch | null = null;
  const followSpool = async (dir: string | null) => {
    if (!opts.onSpoolFile || (spoolWatch?.dir ?? null) === dir) return;
    await spoolWatch?.close();
    spoolWatch = dir ? watchSpool(dir, logger, opts.onSpoolFile) : null;
  };
  await followSpool(state.config.queue.spool);

  // A replaced database is closed once no pass uses it, the context's own included (else a run that
  // switched databases would keep the first one open to the end); the context's close at exit then
  // does nothing (Database.close runs once).
  const closeRetired = () => {
    for (const db of retired.splice(0)) {
      db.close().catch((error) => logger.debug(`closing the previous database: ${errorText(error)}`));
    }
  };

  const apply = async (next: Config) => {
    const changes = configChanges(state.config, next);
    if (changes.length === 0) {
      logger.info("config reloaded: no changes", { config: next.source });
      return;
    }
    let db = state.db;
    const dbChanged =
      next.database.url !== state.config.database.url || next.database.busy_timeout !== state.config.database.busy_timeout;
    if (dbChanged) {
      // Opened before anything switches: a database that cannot be reached throws here, and the
      // watcher logs that and keeps the running config (old database included).
      try {
        db = await openCheckedDatabase(next);
      } catch (error) {
        throw new Error(`cannot open the new database: ${errorText(error)}`);
      }
    }
    const before = state;
    try {
      await opts.prepare?.({ config: next, db }, before);
    } catch (error) {
      if (db !== before.db) await db.close().catch(() => {});
      throw error;
    }
    state = { config: next, db };
    if (changes.some((c) => c.startsWith("queue."))) {
      routing = new LocalRouting(next.queue);
      await followSpool(next.queue.spool);
    }
    if (changes.some(affectsTransport)) {
      staleTransport ??= transport;
      transport = newTransport(next);
    }
    logger.use(loggerFor(next, options));
    if (dbChanged) {
      retired.push(before.db);
      logger.info(`switched to database ${db.displayUrl}; the previous one closes after the current pass`);
    }
    logger.info("config reloaded", { config: next.source, changes });
    try {
      await opts.onApplied?.(state, before);
    } catch (error) {
      logger.error(`config applied, but acting on it failed: ${errorText(error)}`);
    }
  };

  const watcher = watchConfig({ config: ctx.config, load: { path: options.config, uses: options.uses }, logger, onChange: apply });
  const onHangup = () => {
    logger.info("SIGHUP received: reloading the config");
    void watcher.reload("SIGHUP");
  };
  process.on("SIGHUP", onHangup);

  return {
    logger,
    get config() {
      return state.config;
    },
    get db() {
      return state.db;
    },
    env() {
      closeRetired();
      if (staleTransport) {
        const stale = staleTransport;
        staleTransport = null;
        void stale.close();
      }
      return { config: state.config, logger, db: state.db, transport, routing };
    },
    async close() {
      process.off("SIGHUP", onHangup);
      await watcher.close();
      await spoolWatch?.close();
      await Promise.allSettled([transport.close(), staleTransport?.close()]);
      // The context closes the database the run started on, after this (ctx.onClose runs last first).
      const ours = [...retired.splice(0), state.db].filter((db) => db !== started);
      await Promise.allSettled(ours.map((db) => db.close()));
    },
  };
}
