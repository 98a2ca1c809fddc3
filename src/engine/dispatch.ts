// Sends one claimed batch in queue order with up to `concurrency` sends in flight, honouring
// django-mailer's per-pass limits max_batch (sent) and max_deferred (deferred). Throttling is the
// pass's job: it sleeps after recording, so a throttled message's outcome is never left unrecorded
// for the length of the sleep.
import type { ClaimedRow } from "../db/queries/claims.ts";
import { errorText } from "../errors.ts";
import { attemptDelivery, suppressedOnly, type Attempt, type AttemptEnv } from "./attempt.ts";

export type StopReason = "max_batch" | "max_deferred" | "signal" | "handler" | "fatal";

export interface PassState {
  sent: number;
  deferred: number;
  failed: number;
  dontSend: number;
  stop: StopReason | null;
  /** Why the pass must end non-zero (handler broke its contract, transport could not be built). */
  failure: unknown;
}

export interface Limits {
  maxBatch: number | null;
  maxDeferred: number | null;
  /** Seconds slept after each message sent (by the pass); > 0 also means one at a time. */
  throttle: number;
}

export interface DispatchEnv extends AttemptEnv {
  limits: Limits;
  /** Sends in flight at once (backend.pool). */
  concurrency: number;
  signal?: AbortSignal;
  clock: () => Date;
}

export interface BatchResult {
  attempts: Attempt[];
  /** Claimed but not sent (a limit, a signal, or the lease running short): released. */
  unattempted: ClaimedRow[];
  /** Messages handed to the transport. */
  sends: number;
}

export const newPassState = (): PassState => ({ sent: 0, deferred: 0, failed: 0, dontSend: 0, stop: null, failure: null });

/** max_deferred = 0 reads as "stop at the first deferral" (django-mailer would stop after any first
 * message, sent or not, because it compares 0 >= 0 after each one). */
export function deferredLimitHit(state: PassState, limits: Limits): boolean {
  return limits.maxDeferred !== null && state.deferred > 0 && state.deferred >= limits.maxDeferred;
}

/** `leaseDeadline`: past this instant no new send starts, so a slow batch cannot outlive its lease
 * and be claimed (and sent again) by another worker while we still work through it. */
export async function dispatchBatch(
  env: DispatchEnv,
  rows: ClaimedRow[],
  suppressed: Set<string>,
  leaseDeadline: number,
  state: PassState,
): Promise<BatchResult> {
  const { limits, logger } = env;
  const concurrency = limits.throttle > 0 ? 1 : Math.max(1, env.concurrency);
  const attempts: Attempt[] = [];
  const inFlight = new Set<Promise<void>>();
  let ready = false;
  let next = 0;
  let sends = 0;

  const settle = (attempt: Attempt) => {
    attempts.push(attempt);
    if (attempt.handlerFailure) {
      state.stop = "handler";
      state.failure ??= attempt.handlerFailure;
    }
    if (attempt.delivered.length > 0) state.sent++;
    if (attempt.state === "deferred") state.deferred++;
    if (attempt.state === "failed") state.failed++;
  };

  /** Waits until one more send may start; false when the batch must stop here. */
  const mayStart = async (): Promise<boolean> => {
    for (;;) {
      if (state.stop) return false;
      if (env.signal?.aborted) {
        state.stop = "signal";
        return false;
      }
      if (deferredLimitHit(state, limits)) {
        logger.warn(`max_deferred (${limits.maxDeferred}) reached, stopping for this round`);
        state.stop = "max_deferred";
        return false;
      }
      const batchFull = limits.maxBatch !== null && state.sent + inFlight.size >= limits.maxBatch;
      if (inFlight.size >= concurrency || batchFull) {
        // An in-flight send may yet be deferred and free its place under max_batch: wait for one.
        if (inFlight.size > 0) {
          await Promise.race(inFlight);
          continue;
        }
        logger.info(`max_batch (${limits.maxBatch}) reached, stopping for this round`);
        state.stop = "max_batch";
        return false;
      }
      return env.clock().getTime() < leaseDeadline;
    }
  };

  for (; next < rows.length; next++) {
    const row = rows[next]!;
    if (!(await mayStart())) break;
    const dropped = suppressedOnly(row, suppressed);
    if (dropped) {
      logger.info("every recipient is on the don't-send list; not sent", { id: row.id, message_id: row.message_id });
      attempts.push(dropped);
      state.dontSend++;
      continue;
    }
    if (!ready) {
      try {
        await env.transport.ready();
        ready = true;
      } catch (error) {
        state.stop = "fatal";
        state.failure ??= error;
        break;
      }
    }
    const task: Promise<void> = attemptDelivery(env, row, suppressed)
      .then(settle)
      .catch((error) => {
        // attemptDelivery handles every delivery failure; reaching here is a bug: stop, keep the row.
        state.stop = "fatal";
        state.failure ??= new Error(`internal error while sending message ${row.id}: ${errorText(error)}`);
        attempts.push(releasedAttempt(row));
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
    sends++;
  }
  await Promise.all(inFlight);
  return { attempts, unattempted: rows.slice(next), sends };
}

function releasedAttempt(row: ClaimedRow): Attempt {
  return {
    row, raw: row.message_data, messageId: row.message_id, delivered: [], deliveredNote: "",
    suppressed: [], remaining: [], state: "released", error: "",
  };
}
