// One pass of send-mail (django-mailer's send_all): take the file lock, then claim, send and record
// batches in queue order until the queue is empty or a limit or a signal stops it.
//
// Crash safety: claims are committed before any SMTP conversation and outcomes are recorded once per
// batch, so a crash between a send and its batch's commit leaves that batch claimed by a dead worker;
// the next pass on this host (or anyone, after the lease) sends it again. Delivery is at least once.
import type { Config } from "../config/types.ts";
import type { Database } from "../db/connect.ts";
import { importSpool } from "../intake/spool-import.ts";
import type { Routing } from "../queue/local-routing.ts";
import { claimOwners, releaseOwners, type BatchRecord, type ClaimedRow } from "../db/queries/claims.ts";
import { EXIT, MailerError, errorText } from "../errors.ts";
import { acquireFileLock, lockFileFor, type HeldLock } from "../lock/file-lock.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../runtime.ts";
import { createTransport } from "../transports/index.ts";
import { localStore, type BatchStore } from "./batch-store.ts";
import { Dispatcher, newPassState, unstartedRun, type BatchRun, type Limits, type StopReason } from "./dispatch.ts";
import { loadErrorHandler, type ErrorHandler } from "./error-handler.ts";
import { keepLeases, type LeaseKeeper } from "./lease-keeper.ts";
import { offThreadStore } from "./offthread-store.ts";
import { DontSendCheck, type DontSendSnapshot } from "./dont-send-check.ts";
import type { EngineObserver } from "./observer.ts";
import type { Outcome } from "./outcome.ts";
import { buildRecord } from "./record.ts";
import { retryPolicy } from "./retry-policy.ts";
import { afterFirstClaim, beforeClaims } from "./upkeep.ts";
import { LimitGate, limitPlan, planIsEmpty } from "../limits/gate.ts";
import { releaseSlotsOf } from "../db/queries/limits.ts";
import { waitOrAbort } from "./shutdown.ts";
import { TransportHolder, type TransportFactory } from "./transport-holder.ts";
import { deadLocalOwners, newWorkerId, retireWorkerId } from "./worker-id.ts";

/** A failed import (a database error, a broken aliases file) is logged and the pass goes on: what is
 * queued already still goes out, and the spool files wait for the next pass. */
async function importSpoolForPass(env: EngineEnv, clock: () => Date): Promise<void> {
  try {
    const { imported, quarantined } = await importSpool({ config: env.config, db: env.db, logger: env.logger, routing: env.routing, clock });
    if (imported + quarantined > 0) env.logger.info("imported the spool", { imported, set_aside: quarantined });
  } catch (error) {
    env.logger.error(`queue.spool: import failed, the files wait for the next pass: ${errorText(error)}`);
  }
}

export interface EngineEnv {
  config: Config;
  logger: Logger;
  db: Database;
  clock?: () => Date;
  /** Replaces the [backend] transport (tests, library users). */
  transportFactory?: TransportFactory;
  /** Replaces the configured error_handler module. */
  errorHandler?: ErrorHandler;
  /** A transport the caller keeps open across passes (runmailer, runmailer-pg) and closes itself. */
  transport?: TransportHolder;
  /** Local-name routing kept across passes, for the spool import (parses the aliases file once per change). */
  routing?: Routing;
  /** Told of outcomes, statement times and passes (the workers' /metrics). */
  observer?: EngineObserver;
}

export interface PassOptions {
  /** Aborting stops claiming; in-flight sends finish and are recorded, the rest is released. */
  signal?: AbortSignal;
  /** Told of each message's outcome as it happens (send-mail's progress line). */
  onOutcome?: (outcome: Outcome) => void;
  /** Send only these messages, if they are sendable (django-mailer's admin action "send selected
   * messages now"); at most a few thousand ids. Locks, limits and recording are a pass's own. */
  only?: readonly number[];
  /** Messages a domain's limit held back in this pass are waited for (send-mail: a cron pass drains
   * what the limits allow, as it sleeps for throttle). Without it the pass ends when nothing else is
   * sendable, and the caller's loop wakes for them (runmailer, runmailer-pg). */
  waitForLimits?: boolean;
}

export interface PassResult {
  sent: number;
  deferred: number;
  failed: number;
  dontSend: number;
  expired: number;
  /** Messages put back until a domain's limit allowed them (each counted every time). */
  held: number;
  /** Another process holds the file lock: nothing was done. */
  lockHeld: boolean;
  stoppedBy: StopReason | null;
  /** The pass ended because a claim found nothing left to send. */
  emptied: boolean;
  seconds: number;
}

export const summaryLine = (r: PassResult) =>
  `${r.sent} sent, ${r.deferred} deferred, ${r.failed} failed in ${r.seconds.toFixed(3)} s`;

export async function runPass(env: EngineEnv, options: PassOptions = {}): Promise<PassResult> {
  const started = performance.now();
  const { config, logger, db } = env;
  const clock = env.clock ?? (() => new Date());
  // Loaded before the lock so a broken handler path fails fast, whatever the queue holds.
  const handler = env.errorHandler ?? (await loadErrorHandler(config.error_handler));
  const state = newPassState();
  let emptied = false;
  const result = (lockHeld = false): PassResult => ({
    sent: state.sent, deferred: state.deferred, failed: state.failed, dontSend: state.dontSend,
    expired: state.expired, held: state.held, lockHeld, stoppedBy: state.stop, emptied, seconds: (performance.now() - started) / 1000,
  });

  // The spool first, before the lock: importing is safe from any number of processes at once, and a
  // pass that finds the lock held still moves what was dropped onto the queue for the holder to send.
  if (config.queue.spool) await importSpoolForPass(env, clock);

  let lock: HeldLock | null = null;
  if (config.lock.use_file_lock) {
    const got = await acquireFileLock(config.lock.path, { waitTimeout: config.lock.wait_timeout, logger, signal: options.signal });
    if (!got.acquired) {
      const who = got.owner ? `${got.owner.host}:${got.owner.pid}` : "an unreadable lock file";
      const wait = config.lock.wait_timeout;
      const waited = wait === "forever" || wait > 0 ? ` (waited ${got.waited.toFixed(1)} s)` : "";
      logger.info(`lock held by ${who}${waited}; quitting`, { lock: lockFileFor(config.lock.path) });
      return result(true);
    }
    lock = got.lock;
  }

  const worker = newWorkerId();
  // A transport handed in by a long-running caller stays open across passes (no SMTP session per
  // pass); otherwise the pass makes its own, on the first send, and closes it at the end.
  const transport = env.transport ?? new TransportHolder(env.transportFactory ?? (() => createTransport(config, logger)));
  const limits: Limits = {
    maxBatch: config.delivery.max_batch,
    maxDeferred: config.delivery.max_deferred,
    throttle: config.delivery.throttle,
  };
  const plan = limitPlan(config.limits);
  const gate = planIsEmpty(plan)
    ? undefined
    : new LimitGate(db, plan, { worker, leaseMs: config.delivery.lease * 1000, clock, logger });
  // Under a fleet-wide rate a worker claims about two seconds' worth at a time, not a batch that would
  // sit claimed (out of other workers' reach, and behind later urgent mail) while the rate lets it out.
  const claimBatch = plan.rate ? Math.max(1, Math.min(config.delivery.claim_batch, Math.ceil(plan.rate.perSecond * 2))) : config.delivery.claim_batch;
  const observer = env.observer;
  const listeners = [options.onOutcome, observer && ((o: Outcome) => observer.outcome(o))].filter((l) => l !== undefined);
  const onOutcome = listeners.length === 0 ? undefined : (o: Outcome) => listeners.forEach((listen) => listen(o));
  const dispatchEnv = {
    transport, handler, logger, limits, concurrency: config.backend.pool, signal: options.signal, clock, onOutcome,
    policy: retryPolicy(config), shutdownTimeout: config.delivery.shutdown_timeout, gate,
    dontSend: new DontSendCheck(db, config.backend.pool),
  };
  const leaseMs = config.delivery.lease * 1000;
  const dispatcher = new Dispatcher(dispatchEnv, state);
  // Throttled passes claim one at a time, and record each message before sleeping: a batch slept
  // through could outlive its lease. Unthrottled ones are pipelined: the next batch is claimed while
  // the current one is sent, and a batch's outcomes are recorded while the next one is sent.
  const pipelined = limits.throttle === 0;
  const recordOptions = { logMessageData: config.delivery.log_message_data, toDb: env.db.dialect.toDb };

  // Claims and records go through a store: this thread's database connection at first, and once a
  // claim comes back full (a backlog to drain) a worker thread's (offthread-store.ts), so that the
  // statements do not take processor time from the SMTP connections.
  const local = localStore(db, worker, options.only);
  let store: BatchStore = local;
  let offThread = null as Promise<BatchStore | null> | null; // assigned by offload()
  const offload = () => {
    offThread = offThreadStore({ url: db.url, busyTimeout: config.database.busy_timeout, worker, fallback: local }).then(
      (moved) => {
        logger.debug("a backlog: claims and records moved to a database worker thread");
        return (store = moved);
      },
      (error) => {
        logger.debug(`claims and records stay on this thread (no database worker thread: ${errorText(error)})`);
        return null;
      },
    );
  };

  /** Claims up to `size` messages (their leases renewed from now until they are recorded), with the
   * don't-send entries among their recipients. */
  const claim = async (size: number): Promise<Claimed> => {
    const now = clock();
    const claimStarted = performance.now();
    const { rows, dontSend } = await store.claim(size, now, new Date(now.getTime() + leaseMs));
    observer?.claimed((performance.now() - claimStarted) / 1000, rows.length);
    if (rows.length === 0) return { rows, dontSend, leaseDeadline: 0, keeper: null };
    if (rows.length === claimBatch && pipelined && !offThread && db.reopenable && !options.only) offload();
    // A slow send renews the batch's leases until its outcomes are known (lease-keeper.ts).
    const keeper = keepLeases({ db, worker, ids: rows.map((r) => r.id), leaseMs, clock, logger });
    return { rows, dontSend, leaseDeadline: now.getTime() + leaseMs / 2, keeper };
  };

  // Batches are recorded one after another, each in one transaction, once all of its sends settled.
  let recording: Promise<void> = Promise.resolve();
  let recordError: unknown = null;
  /** Batches claimed and not yet recorded. */
  let unrecorded = 0;
  const record = (batch: Claimed, run: BatchRun): Promise<void> => {
    unrecorded++;
    return (recording = recording
      .then(async () => {
        const { attempts, unattempted } = await run.done;
        await batch.keeper?.stop();
        const recordStarted = performance.now();
        await recordWithRetry((r) => store.record(r), buildRecord(attempts, unattempted, recordOptions), logger);
        observer?.recorded((performance.now() - recordStarted) / 1000, attempts.length + unattempted.length);
      })
      .catch((error) => {
        // Those messages were sent and stay claimed until their lease ends (then they are sent again):
        // stop here, and let the error end the pass.
        recordError ??= error;
        state.stop ??= "fatal";
      })
      .finally(() => void unrecorded--));
  };

  // The batch claimed ahead of the one being sent.
  let ahead: Promise<Claimed> | null = null;
  const claimAhead = (size: number) => {
    if (size <= 0 || state.stop) return;
    ahead = claim(size);
    ahead.catch(() => {}); // awaited later; failing before that is not an unhandled rejection
  };
  /** Gives the batch claimed ahead back to the queue, unsent. */
  const dropAhead = async () => {
    const pending = ahead;
    ahead = null;
    if (!pending) return;
    try {
      const batch = await pending;
      if (batch.rows.length > 0) void record(batch, unstartedRun(batch.rows));
    } catch (error) {
      logger.debug(`claiming the next batch failed (it holds nothing): ${errorText(error)}`);
    }
  };

  /** Waits for sends to settle, or for the signal: after it, the sends in flight get shutdown_timeout
   * (dispatcher.finish() below), not as long as they take. */
  const untilSettled = (promise: Promise<unknown>) => waitOrAbort(promise, options.signal);

  let thrown: unknown = null;
  try {
    await beforeClaims(db, config, clock(), logger);
    // Dead workers' claims are looked for once the first batch is under way (or the first claim
    // found nothing): off the path from a notification to the first send, and on PostgreSQL on the
    // connection the claim gave back. What they free is claimed from the next claim on.
    let deadClaims = null as Promise<number> | null; // assigned by afterFirst()
    let deadClaimsSeen = false;
    let upkeep = null as Promise<void> | null; // assigned by afterFirst()
    /** Once, after the first claim: the dead workers' claims, and expiry and pruning (upkeep.ts).
     * Beside a batch being sent the two run at once; after an empty claim one after the other, so
     * that a pass with nothing to send (cron's every minute) opens no second database connection. */
    const afterFirst = (emptyClaim: boolean): Promise<number> => {
      const scan = (deadClaims ??= scanDeadClaims());
      const upkeepNow = () => afterFirstClaim(db, config, clock(), logger);
      upkeep ??= emptyClaim ? scan.then(upkeepNow, upkeepNow) : upkeepNow();
      return scan;
    };
    const scanDeadClaims = () => {
      const scan = releaseDeadClaims(db, logger);
      scan.catch(() => {}); // awaited below
      return scan;
    };
    let previous: Promise<void> = Promise.resolve();
    try {
      while (await dispatcher.withinLimits()) {
        if (state.rateWaitUntil !== null) {
          // A slow fleet rate (say 20/h): the released batch is claimed again when a token is due,
          // not at once and over and over.
          await untilSettled(recording);
          const wait = state.rateWaitUntil - clock().getTime();
          state.rateWaitUntil = null;
          logger.debug(`waiting ${Math.max(0, wait)} ms for the fleet's rate (limits.rate)`);
          if (wait > 0) await sleep(wait, options.signal);
          continue;
        }
        const size = pipelined ? Math.min(claimBatch, dispatcher.allowance) : 1;
        const taken = ahead;
        ahead = null;
        let batch: Claimed;
        try {
          batch = await (taken ?? claim(size));
        } catch (error) {
          // A claim made while earlier batches are still being sent or recorded (a busy SQLite file,
          // say): once those are recorded, claim again; only a claim failing then ends the pass.
          if (unrecorded === 0) throw error;
          logger.debug(`claiming the next batch failed, retrying once the batches in hand are recorded: ${errorText(error)}`);
          await untilSettled(recording);
          continue;
        }
        // Nothing left that a pass may take (a batch claimed ahead that came up empty while earlier
        // ones were still being sent included: those give nothing back unless the pass stops or their
        // lease deadline passes, and both are handled below) ...
        if (batch.rows.length === 0) {
          // ... unless dead workers' claims, looked for after the first claim, were released since.
          const released = afterFirst(true);
          if (!deadClaimsSeen && (await released) > 0) {
            deadClaimsSeen = true;
            continue;
          }
          // ... or messages a domain's limit held back are to be waited for (send-mail).
          if (options.waitForLimits && state.heldUntil.length > 0) {
            // Until they are recorded the held messages are still ours, out of the claim's reach.
            await untilSettled(recording);
            const now = clock().getTime();
            const wait = state.heldUntil.reduce((a, b) => Math.min(a, b)) - now;
            // Those due now are claimable from here on: claim again; the rest are waited for.
            state.heldUntil = state.heldUntil.filter((t) => t > now);
            logger.debug(`waiting ${Math.max(0, wait)} ms for messages held back by a limit`);
            if (wait > 0) await sleep(wait, options.signal);
            continue;
          }
          emptied = true;
          break;
        }
        // A batch smaller than asked for means the queue is (about) empty: nothing to overlap with its
        // sends, so the next statements (the claim ahead included) wait until they are done rather
        // than compete with them for the processor and the database (a notified message's send, whose
        // don't-send read would queue behind that claim, is the latency runmailer-pg is measured by).
        const short = batch.rows.length < size;
        const run = await dispatcher.start(batch.rows, batch.dontSend, {
          leaseDeadline: batch.leaseDeadline,
          lowWater: Math.ceil(batch.rows.length / 2),
          onLowWater: pipelined && !short
            ? (left) => claimAhead(Math.min(claimBatch, dispatcher.allowance - left))
            : undefined,
        });
        if (pipelined && short) await untilSettled(run.done);
        void afterFirst(false);
        const recorded = record(batch, run);
        if (!pipelined) {
          await untilSettled(recorded);
          if (options.signal?.aborted) continue;
          // django-mailer sleeps after every message it processed, the last one and a limit-stopping
          // one included, so N messages take at least N x throttle.
          if ((await run.done).sends > 0) {
            logger.debug(`throttling: sleeping ${limits.throttle} s`);
            await sleep(limits.throttle * 1000, options.signal);
          }
          continue;
        }
        if (run.deadlineHit) {
          // The rest of the batch goes back to the queue, and so does the batch claimed after it: the
          // next claim, made once both are recorded, takes them again in queue order.
          await dropAhead();
          await untilSettled(recording);
        }
        // At most two batches unrecorded at once (the one being sent and the one before it): when
        // recording falls behind, sending waits for it rather than claims pile up.
        await untilSettled(previous);
        previous = recorded;
      }
    } catch (error) {
      thrown = error;
      state.stop ??= "fatal";
    }
    // However the loop ended: the sends in flight finish (within shutdown_timeout after a signal) and
    // are recorded with their batches; whatever was claimed and not sent goes back to the queue.
    await dispatcher.finish();
    await dropAhead();
    await recording;
    await deadClaims?.catch((error) => void (thrown ??= error));
    await upkeep;
    await (await offThread)?.close().catch((error) => logger.debug(`closing the database worker thread: ${errorText(error)}`));
    if (thrown !== null) throw thrown;
    if (recordError !== null) throw recordError;
    if (state.failure !== null) {
      throw state.failure instanceof MailerError
        ? state.failure
        : new MailerError(`pass stopped: ${errorText(state.failure)}`, EXIT.software, { cause: state.failure });
    }
    const finished = result();
    observer?.passFinished(finished);
    return finished;
  } finally {
    if (!env.transport) await transport.close();
    retireWorkerId(worker);
    lock?.release();
  }
}

interface Claimed {
  rows: ClaimedRow[];
  dontSend: DontSendSnapshot;
  /** No send of the batch starts past this instant (half its lease: see dispatch.ts). */
  leaseDeadline: number;
  keeper: LeaseKeeper | null;
}

/** A SIGKILLed worker on this host leaves its batch claimed; give it back now rather than after the lease. */
async function releaseDeadClaims(db: Database, logger: Logger): Promise<number> {
  const dead = deadLocalOwners(await claimOwners(db));
  if (dead.length === 0) return 0;
  await releaseSlotsOf(db, dead);
  const released = await releaseOwners(db, dead);
  if (released > 0) logger.warn(`released ${released} message(s) claimed by worker(s) that are gone`, { workers: dead });
  return released;
}

/** The messages are sent: losing their bookkeeping to a brief database hiccup would send them again. */
async function recordWithRetry(write: (record: BatchRecord) => Promise<void>, record: BatchRecord, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write(record);
    } catch (error) {
      if (attempt >= 3) throw error;
      logger.warn(`recording a batch failed, retrying: ${errorText(error)}`);
      await sleep(250 * 4 ** (attempt - 1));
    }
  }
}
