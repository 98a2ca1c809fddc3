// One pass of send-mail (django-mailer's send_all): take the file lock, then claim, send and record
// batches in queue order until the queue is empty or a limit or a signal stops it.
//
// Crash safety: claims are committed before any SMTP conversation and outcomes are recorded once per
// batch, so a crash between a send and its batch's commit leaves that batch claimed by a dead worker;
// the next pass on this host (or anyone, after the lease) sends it again. Delivery is at least once.
import type { Config } from "../config/types.ts";
import type { Database } from "../db/connect.ts";
import { claimBatch, claimOwners, recordBatch, releaseOwners, type BatchRecord, type ClaimedRow } from "../db/queries/claims.ts";
import { dontSendListIsEmpty, suppressedAmong } from "../db/queries/dont-send.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import { EXIT, MailerError, errorText } from "../errors.ts";
import { acquireFileLock, lockFileFor, type HeldLock } from "../lock/file-lock.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../runtime.ts";
import { createTransport } from "../transports/index.ts";
import { dispatchBatch, deferredLimitHit, newPassState, type BatchResult, type Limits, type StopReason } from "./dispatch.ts";
import { loadErrorHandler, type ErrorHandler } from "./error-handler.ts";
import { buildRecord } from "./record.ts";
import { TransportHolder, type TransportFactory } from "./transport-holder.ts";
import { deadLocalOwners, newWorkerId, retireWorkerId } from "./worker-id.ts";

export interface EngineEnv {
  config: Config;
  logger: Logger;
  db: Database;
  clock?: () => Date;
  /** Replaces the [backend] transport (tests, library users). */
  transportFactory?: TransportFactory;
  /** Replaces the configured error_handler module. */
  errorHandler?: ErrorHandler;
}

export interface PassOptions {
  /** Aborting stops claiming; in-flight sends finish and are recorded, the rest is released. */
  signal?: AbortSignal;
}

export interface PassResult {
  sent: number;
  deferred: number;
  failed: number;
  dontSend: number;
  /** Another process holds the file lock: nothing was done. */
  lockHeld: boolean;
  stoppedBy: StopReason | null;
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
  const result = (lockHeld = false): PassResult => ({
    sent: state.sent, deferred: state.deferred, failed: state.failed, dontSend: state.dontSend,
    lockHeld, stoppedBy: state.stop, seconds: (performance.now() - started) / 1000,
  });

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
  const transport = new TransportHolder(env.transportFactory ?? (() => createTransport(config, logger)));
  const limits: Limits = {
    maxBatch: config.delivery.max_batch,
    maxDeferred: config.delivery.max_deferred,
    throttle: config.delivery.throttle,
  };
  const dispatchEnv = { transport, handler, logger, limits, concurrency: config.backend.pool, signal: options.signal, clock };
  const leaseMs = config.delivery.lease * 1000;
  try {
    await releaseDeadClaims(db, logger);
    while (!state.stop) {
      if (options.signal?.aborted) {
        state.stop = "signal";
        break;
      }
      const allowance = limits.maxBatch === null ? Infinity : limits.maxBatch - state.sent;
      if (allowance <= 0) {
        logger.info(`max_batch (${limits.maxBatch}) reached, stopping for this round`);
        state.stop = "max_batch";
        break;
      }
      if (deferredLimitHit(state, limits)) {
        logger.warn(`max_deferred (${limits.maxDeferred}) reached, stopping for this round`);
        state.stop = "max_deferred";
        break;
      }
      // Throttled passes claim one at a time: a batch slept through could outlive its lease.
      const size = limits.throttle > 0 ? 1 : Math.min(config.delivery.claim_batch, allowance);
      const now = clock();
      const rows = await claimBatch(db, worker, size, now, new Date(now.getTime() + leaseMs));
      if (rows.length === 0) break;
      let batch: BatchResult;
      try {
        const suppressed = await suppressedFor(db, rows);
        batch = await dispatchBatch(dispatchEnv, rows, suppressed, now.getTime() + leaseMs / 2, state);
      } catch (error) {
        // Nothing was sent yet (only the don't-send lookup can throw here): give the batch back.
        await recordBatch(db, worker, { logs: [], remove: [], change: [], release: rows.map((r) => r.id) }).catch(() => {});
        throw error;
      }
      const record = buildRecord(batch.attempts, batch.unattempted, { logMessageData: config.delivery.log_message_data });
      await recordWithRetry(db, worker, record, logger);
      // django-mailer sleeps after every message it processed, the last one and a limit-stopping one
      // included, so N messages take at least N x throttle.
      if (limits.throttle > 0 && batch.sends > 0) {
        logger.debug(`throttling: sleeping ${limits.throttle} s`);
        await sleep(limits.throttle * 1000, options.signal);
      }
    }
    if (state.failure !== null) {
      throw state.failure instanceof MailerError
        ? state.failure
        : new MailerError(`pass stopped: ${errorText(state.failure)}`, EXIT.software, { cause: state.failure });
    }
    return result();
  } finally {
    await transport.close();
    retireWorkerId(worker);
    lock?.release();
  }
}

/** A SIGKILLed worker on this host leaves its batch claimed; give it back now rather than after the lease. */
async function releaseDeadClaims(db: Database, logger: Logger): Promise<void> {
  const dead = deadLocalOwners(await claimOwners(db));
  if (dead.length === 0) return;
  const released = await releaseOwners(db, dead);
  if (released > 0) logger.warn(`released ${released} message(s) claimed by worker(s) that are gone`, { workers: dead });
}

async function suppressedFor(db: Database, rows: ClaimedRow[]): Promise<Set<string>> {
  if (await dontSendListIsEmpty(db.kysely)) return new Set();
  return suppressedAmong(db.kysely, rows.flatMap((r) => splitRecipients(r.envelope_to)));
}

/** The messages are sent: losing their bookkeeping to a brief database hiccup would send them again. */
async function recordWithRetry(db: Database, worker: string, record: BatchRecord, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await recordBatch(db, worker, record);
    } catch (error) {
      if (attempt >= 3) throw error;
      logger.warn(`recording a batch failed, retrying: ${errorText(error)}`);
      await sleep(250 * 4 ** (attempt - 1));
    }
  }
}
