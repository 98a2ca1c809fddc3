// The dedicated LISTEN connection of runmailer-pg.
//
// It is its own postgres.js instance with one connection (max: 1), never the pool's: a pooled
// connection can be handed to a query at any time and closed when idle, and LISTEN is a property
// of one server session. Reconnects are ours, not postgres.js's: its `sql.listen` re-LISTENs once
// after a close and silently gives up if that one try fails (the server is still restarting), and
// its backoff is neither capped low enough nor logged. Here every loss is logged, retried with
// capped, jittered backoff (backoff.ts) until it works, and reported so the caller runs a pass for
// whatever was inserted while nobody listened.
//
// NOTIFY is only a latency hint: the caller's beat keeps polling authoritative, so a lost
// notification delays mail by at most one beat and a listener that cannot work falls back to polling
// (and keeps trying LISTEN, so one slow test notification after a restart is not for life).
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { classifyDatabaseError } from "../db/connect.ts";
import { TempFailError, errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../runtime.ts";
import { type BackoffOptions, DEFAULT_BACKOFF, backoffDelay } from "./backoff.ts";

export interface ListenerOptions {
  url: string;
  channel: string;
  logger: Logger;
  /** A notification other than our own probes arrived (payload: the new row's id). */
  onNotify(payload: string): void;
  /** LISTEN is in place; `catchUp` when it was not at some point since the first pass (a failed
   * attempt or a lost connection): mail may have been committed unheard meanwhile. */
  onListening(catchUp: boolean): void;
  /** The LISTEN connection is gone (lost, failed, or given up for polling): the workers' metrics. */
  onDown?(): void;
  /** NOTIFYs `payload` on the channel through *another* connection, as an inserting app would. */
  sendProbe(payload: string): Promise<void>;
}

/** The server session's application_name, so operators (and tests) can find it in pg_stat_activity. */
const LISTEN_APPLICATION_NAME = "mailer-listen";
const PROBE_PREFIX = "probe:";
/** How long the first test notification may take to come back before LISTEN is given up on. */
const PROBE_TIMEOUT_MS = 5_000;
/** How often a cheap query checks that the LISTEN connection still answers. */
const HEALTH_CHECK_MS = 30_000;
/** A connection that stayed up this long starts its next reconnect from the first backoff step. */
const STABLE_MS = 60_000;
/** While polling, LISTEN is tried again from 2-4 s on, doubling to at most every 5 min: quick enough
 * to return soon after a slow restart, rare enough to be no load when a pooler rules it out. */
const POLLING_RETRY: BackoffOptions = { baseMs: 4_000, capMs: 300_000 };

/** LISTEN is in place but cannot be relied on: the worker polls until a later try proves it works. */
class ListenUnusable extends Error {}

interface Session {
  sql: postgres.Sql;
  /** Resolves with the reason once the connection is unusable (closed, or a health check failed). */
  lost: Promise<string>;
  lose(reason: string): void;
}

export class Listener {
  /** Settles when the first attempt is over (listening, failed, or fell back to polling), so the
   * first pass runs after LISTEN is in place and nothing inserted in between goes unheard. */
  readonly firstAttempt: Promise<void>;
  #settleFirst!: () => void;
  readonly #options: ListenerOptions;
  readonly #stop = new AbortController();
  #session: Session | null = null;
  #probe: { payload: string; heard(): void } | null = null;
  #done: Promise<void> = Promise.resolve();
  #listening = false;

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.firstAttempt = new Promise((resolve) => (this.#settleFirst = resolve));
  }

  start(): this {
    this.#done = this.#run().finally(() => this.#settleFirst());
    return this;
  }

  /** LISTEN is up and proven: every commit from now on is announced (after a gap, onListening asks
   * for a catch-up pass). */
  get listening(): boolean {
    return this.#listening;
  }

  /** Idempotent: closes the connection and ends the reconnect loop. */
  async stop(): Promise<void> {
    this.#stop.abort();
    // Ending the session also cuts short a connect or a LISTEN still waiting for the server.
    this.#session?.lose("stopping");
    await this.#session?.sql.end({ timeout: 0 }).catch(() => {});
    await this.#done;
  }

  async #run(): Promise<void> {
    const { logger, channel } = this.#options;
    let attempt = 0;
    let again = false;
    /** Set while LISTEN is known not to work (no test notification, or a refusal): the worker polls,
     * and LISTEN is tried again on the slower POLLING_RETRY backoff, never given up for good. */
    let polling = false;
    while (!this.#stop.signal.aborted) {
      const session = this.#open();
      let upSince = 0;
      try {
        await session.sql.unsafe(`listen "${channel.replace(/"/g, '""')}"`);
        if (!(await this.#probeRoundTrip(session))) {
          throw new ListenUnusable(
            `a test notification sent through another connection did not arrive within ${PROBE_TIMEOUT_MS / 1000} s ` +
              "(a transaction-mode pooler such as PgBouncer drops them)",
          );
        }
        upSince = performance.now();
        // After any failed attempt (even at start, when the first pass ran without LISTEN) mail
        // may have been committed unheard: the caller runs a pass.
        const catchUp = again || attempt > 0;
        if (polling) logger.info(`LISTEN/NOTIFY works again (attempt ${attempt}); listening on channel ${channel}, no longer polling`);
        else if (catchUp) logger.info(`LISTEN connection restored (reconnect attempt ${attempt}); listening on channel ${channel}`);
        else logger.info(`listening for new mail on channel ${channel}`);
        polling = false;
        this.#listening = true;
        this.#options.onListening(catchUp);
        again = true;
        this.#settleFirst();
        const healthCheck = this.#checkHealth(session);
        const reason = await session.lost;
        clearInterval(healthCheck);
        if (this.#stop.signal.aborted) return;
        logger.warn(`LISTEN connection lost: ${reason}`);
        if (performance.now() - upSince >= STABLE_MS) attempt = 0;
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        // A server that is down, restarting or refusing connections is worth waiting for at the
        // quick pace; anything else (no test notification, a proxy refusing LISTEN, a permission
        // error) means polling for now, and another try on the slow pace: a pooler can be
        // reconfigured, and a test notification that was merely slow after a restart arrives next time.
        const unusable =
          error instanceof ListenUnusable ? error.message
          : classifyDatabaseError(error, "") instanceof TempFailError ? null
          : `LISTEN failed: ${errorText(error)}`;
        if (unusable === null) logger.warn(`LISTEN connection unavailable: ${errorText(error)}`);
        else if (!polling) {
          this.#fallBack(unusable);
          polling = true;
          attempt = 0;
        } else logger.warn(`LISTEN/NOTIFY still cannot work: ${unusable}; still polling`);
      } finally {
        this.#session = null;
        this.#listening = false;
        this.#options.onDown?.();
        await session.sql.end({ timeout: 0 }).catch(() => {});
      }
      this.#settleFirst();
      attempt++;
      const delay = backoffDelay(attempt, polling ? POLLING_RETRY : DEFAULT_BACKOFF);
      if (polling) logger.info(`trying LISTEN again in ${(delay / 1000).toFixed(1)} s (attempt ${attempt})`);
      else logger.warn(`reconnecting the LISTEN connection in ${(delay / 1000).toFixed(2)} s (attempt ${attempt})`);
      await sleep(delay, this.#stop.signal);
    }
  }

  #open(): Session {
    let lose!: (reason: string) => void;
    const lost = new Promise<string>((resolve) => (lose = resolve));
    // `onnotify` is the option postgres.js's own sql.listen is built on (src/index.js); its typings
    // leave it out, hence the widened type.
    const options: postgres.Options<{}> & { onnotify(channel: string, payload: string): void } = {
      max: 1,
      // Never closed for being idle or old: an idle LISTEN connection is the point.
      idle_timeout: undefined,
      max_lifetime: null,
      fetch_types: false,
      connect_timeout: 10,
      // TCP keepalive notices a peer that vanished without a FIN (a host or network failure).
      keep_alive: 30,
      onnotice: () => {},
      onnotify: (_channel, payload) => this.#heard(payload),
      onclose: () => lose("the connection was closed"),
      connection: { application_name: LISTEN_APPLICATION_NAME },
    };
    const sql = postgres(this.#options.url, options);
    const session = { sql, lost, lose };
    this.#session = session;
    return session;
  }

  #heard(payload: string): void {
    if (!payload.startsWith(PROBE_PREFIX)) return this.#options.onNotify(payload);
    // Probes (ours or other workers') carry no mail.
    if (this.#probe?.payload === payload) this.#probe.heard();
  }

  /** Proves notifications reach this session: NOTIFY through the pool, wait for it here. */
  async #probeRoundTrip(session: Session): Promise<boolean> {
    const payload = PROBE_PREFIX + randomBytes(6).toString("hex");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const heard = new Promise<boolean>((resolve) => {
      this.#probe = { payload, heard: () => resolve(true) };
      timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    });
    const closed = session.lost.then((reason) => {
      throw new TempFailError(`LISTEN connection lost during its first test: ${reason}`);
    });
    try {
      await Promise.race([this.#options.sendProbe(payload), closed]);
      return await Promise.race([heard, closed]);
    } finally {
      clearTimeout(timer);
      this.#probe = null;
      closed.catch(() => {});
    }
  }

  /** A connection can die without the socket noticing (a dropped route, a frozen pooler): a cheap
   * query on it now and then turns that into a loss, and so into a reconnect. */
  #checkHealth(session: Session): ReturnType<typeof setInterval> {
    return setInterval(() => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no answer within 10 s")), 10_000);
      });
      Promise.race([session.sql`select 1`, timeout])
        .catch((error) => session.lose(`health check failed: ${errorText(error)}`))
        .finally(() => clearTimeout(timer));
    }, HEALTH_CHECK_MS);
  }

  #fallBack(why: string): void {
    this.#options.logger.error(
      `LISTEN/NOTIFY cannot work on this connection: ${why}. Falling back to polling every ` +
        "delivery.empty_queue_sleep seconds and trying LISTEN again now and then; for instant delivery point " +
        "runmailer-pg at PostgreSQL directly or through a session-mode pooler.",
    );
  }
}
