// Sends claimed batches in queue order with up to `concurrency` sends in flight, honouring
// django-mailer's per-pass limits max_batch (sent) and max_deferred (deferred). Throttling is the
// pass's job: it sleeps after recording, so a throttled message's outcome is never left unrecorded
// for the length of the sleep.
//
// One Dispatcher serves a whole pass: its `concurrency` places are shared by every batch, so the
// next batch's first sends start as soon as the previous batch's last ones free a place, instead of
// the connections idling while a batch's slowest send finishes. Each batch still has its own result
// (`BatchRun.done`), settled when all of its sends have, which the pass records in one transaction.
import type { ClaimedRow } from "../db/queries/claims.ts";
import { fromDbTime } from "../db/dialect.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import { errorText } from "../errors.ts";
import type { LimitGate } from "../limits/gate.ts";
import { logsAt } from "../log.ts";
import { sleep } from "../runtime.ts";
import { attemptDelivery, suppressedOnly, unsentAttempt, type Attempt, type AttemptEnv } from "./attempt.ts";
import { logOutcome, outcomeOf, type Outcome } from "./outcome.ts";
import { settleInFlight } from "./shutdown.ts";
import type { DontSendCheck, DontSendSnapshot } from "./dont-send-check.ts";
import { thenOf, type Answer } from "./on-demand.ts";

export type StopReason = "max_batch" | "max_deferred" | "daily_limit" | "signal" | "handler" | "fatal";

export interface PassState {
  sent: number;
  deferred: number;
  failed: number;
  dontSend: number;
  expired: number;
  /** Put back until a domain's limit allows them. */
  held: number;
  /** When each message held in this pass is due again (epoch ms), until the pass has waited past it. */
  heldUntil: number[];
  /** The fleet's rate gives its next token later than the batch's lease allows waiting (epoch ms):
   * the batch goes back, and the pass sleeps until then before it claims again. */
  rateWaitUntil: number | null;
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
  /** Told of each message's outcome as it happens (send-mail's progress line). */
  onOutcome?: (outcome: Outcome) => void;
  /** Seconds in-flight sends get after the signal before they are abandoned (shutdown.ts). */
  shutdownTimeout?: number;
  /** The shared limits of [limits], when any is set. */
  gate?: LimitGate;
  /** Reads the don't-send list again right before each send (without it, the batch's lookup holds). */
  dontSend?: DontSendCheck;
}

export interface BatchResult {
  attempts: Attempt[];
  /** Claimed but not sent (a limit, a signal, or the lease running short): released. */
  unattempted: ClaimedRow[];
  /** Messages handed to the transport. */
  sends: number;
}

/** One batch going through the dispatcher. */
export interface BatchRun {
  /** Settles once every send of the batch has (or was abandoned at shutdown): what to record. */
  readonly done: Promise<BatchResult>;
  /** The batch stopped early because its lease deadline passed (the rest is released). */
  readonly deadlineHit: boolean;
}

export const newPassState = (): PassState => ({
  sent: 0, deferred: 0, failed: 0, dontSend: 0, expired: 0, held: 0, heldUntil: [], rateWaitUntil: null, stop: null, failure: null,
});

/** max_deferred = 0 reads as "stop at the first deferral" (django-mailer would stop after any first
 * message, sent or not, because it compares 0 >= 0 after each one). */
function deferredLimitHit(state: PassState, limits: Limits): boolean {
  return limits.maxDeferred !== null && state.deferred > 0 && state.deferred >= limits.maxDeferred;
}

interface Run extends BatchRun {
  result: BatchResult;
  /** Sends of this batch still in flight. */
  pending: number;
  /** Every row was started, or the batch stopped: `done` settles when `pending` reaches 0. */
  dispatched: boolean;
  /** Settled (or abandoned at shutdown): late outcomes are not ours to record any more. */
  closed: boolean;
  deadlineHit: boolean;
  resolve(result: BatchResult): void;
}

interface Task {
  row: ClaimedRow;
  run: Run;
}

export interface StartOptions {
  /** Past this instant no new send of the batch starts, so a slow batch cannot outlive its lease
   * and be claimed (and sent again) by another worker while we still work through it. */
  leaseDeadline: number;
  /** Called once, with the rows left to start, when `lowWater` or fewer are left (the pass then
   * claims the next batch, so it is there before the connections run out of work). */
  onLowWater?: (left: number) => void;
  lowWater?: number;
}

export class Dispatcher {
  readonly #env: DispatchEnv;
  readonly #state: PassState;
  readonly #concurrency: number;
  /** Each send in flight, across batches. */
  readonly #inFlight = new Map<Promise<void>, Task>();
  /** Woken when a send settles or the signal aborts: one promise shared by whoever waits, instead of
   * a Promise.race and an abort listener per message sent. */
  #wake: { promise: Promise<void>; resolve(): void } | null = null;
  readonly #onAbort = () => this.#wakeUp();
  #listening = false;
  #warmed = false;

  constructor(env: DispatchEnv, state: PassState) {
    this.#env = env;
    this.#state = state;
    this.#concurrency = env.limits.throttle > 0 ? 1 : Math.max(1, env.concurrency);
  }

  /** Sends in flight now (they count against max_batch until they settle). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** How many more sends max_batch allows now (sends in flight count: one may yet be deferred). */
  get allowance(): number {
    const { maxBatch } = this.#env.limits;
    return maxBatch === null ? Infinity : maxBatch - this.#state.sent - this.#inFlight.size;
  }

  /** Whether the pass may go on: false (with state.stop set) after a signal or when max_deferred or
   * max_batch is reached. While max_batch is reached with sends in flight, waits for one to settle
   * (it may be deferred and free its place). The pass asks before each claim, the dispatcher before
   * each send. */
  async withinLimits(): Promise<boolean> {
    const state = this.#state;
    const { limits, logger, signal } = this.#env;
    for (;;) {
      if (state.stop) return false;
      if (signal?.aborted) {
        state.stop = "signal";
        return false;
      }
      if (deferredLimitHit(state, limits)) {
        logger.warn(`max_deferred (${limits.maxDeferred}) reached, stopping for this round`);
        state.stop = "max_deferred";
        return false;
      }
      if (this.allowance > 0) return true;
      if (this.#inFlight.size === 0) {
        logger.info(`max_batch (${limits.maxBatch}) reached, stopping for this round`);
        state.stop = "max_batch";
        return false;
      }
      await this.waitForOne();
    }
  }

  /** Waits until one send in flight settles (or the signal aborts). */
  waitForOne(): Promise<void> {
    if (this.#inFlight.size === 0 || this.#env.signal?.aborted) return Promise.resolve();
    if (!this.#wake) {
      // Added once, at the first wait, and removed in finish(): runmailer's signal outlives every pass.
      if (!this.#listening) this.#env.signal?.addEventListener("abort", this.#onAbort, { once: true });
      this.#listening = true;
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#wake = { promise, resolve };
    }
    return this.#wake.promise;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.resolve();
  }

  /** Starts the batch's sends in order as places free up; returns once each row is started or the
   * batch stopped (a limit, a signal, its lease deadline). Its sends may still be in flight: the
   * returned run's `done` says when its outcomes are all known. */
  async start(rows: ClaimedRow[], dontSend: DontSendSnapshot, options: StartOptions): Promise<BatchRun> {
    const state = this.#state;
    const { suppressed } = dontSend;
    let resolve!: (result: BatchResult) => void;
    const done = new Promise<BatchResult>((r) => (resolve = r));
    const run: Run = {
      result: { attempts: [], unattempted: [], sends: 0 },
      pending: 0, dispatched: false, closed: false, deadlineHit: false, done, resolve,
    };
    const lowWater = options.lowWater ?? 0;
    let next = 0;
    let onLowWater = options.onLowWater;
    for (; next < rows.length; next++) {
      const row = rows[next]!;
      const verdict = await this.#mayStart(options.leaseDeadline);
      if (verdict !== "go") {
        run.deadlineHit = verdict === "deadline";
        break;
      }
      const unsent = suppressedOnly(row, suppressed) ?? this.#expired(row, suppressed);
      if (unsent) {
        this.#report(unsent, performance.now());
        run.result.attempts.push(unsent);
        if (unsent.state === "expired") state.expired++;
        else state.dontSend++;
      } else {
        // The transport first: a limit's token is taken only when the send can start at once (a cold
        // transport would send the first messages late, bunched with the next ones).
        if (!(await this.#transportReady())) break;
        let release: (() => Promise<void>) | undefined;
        if (this.#env.gate) {
          const admitted = await this.#admit(row, suppressed, options.leaseDeadline);
          if (admitted === "stop" || admitted === "deadline") {
            run.deadlineHit = admitted === "deadline";
            break;
          }
          if ("state" in admitted) run.result.attempts.push(admitted); // held back, or expired meanwhile
          else release = admitted.release;
        }
        const held = this.#env.gate !== undefined && release === undefined;
        if (!held) this.#send(run, row, dontSend, release);
      }
      // After the send started, not before: claiming ahead never delays a send.
      const left = rows.length - next - 1;
      if (onLowWater && left <= lowWater) {
        onLowWater(left);
        onLowWater = undefined;
      }
    }
    run.result.unattempted.push(...rows.slice(next));
    run.dispatched = true;
    this.#settleIfDone(run);
    return run;
  }

  /** Starts one send; false when the transport cannot be built (the pass stops). */
  /** Builds the transport if it is not (the first send, or after a handler asked for a new
   * connection); false when it cannot be built: the pass stops, as at the first build, instead of
   * failing each message as unexpected. */
  async #transportReady(): Promise<boolean> {
    if (this.#env.transport.built && (!this.#env.gate || this.#warmed)) return true;
    try {
      await this.#env.transport.ready();
      // Under a limit: a first send after a cold start would reach the server late, bunched with the
      // next ones, and the server would see more than the limit in that second.
      if (this.#env.gate) await this.#env.transport.warm();
      this.#warmed = true;
      return true;
    } catch (error) {
      this.#state.stop = "fatal";
      this.#state.failure ??= error;
      return false;
    }
  }

  /** Waits for every send in flight; after a signal, those still running when delivery.shutdown_timeout
   * runs out are abandoned and their rows released with their batch. */
  async finish(): Promise<void> {
    const env = this.#env;
    env.signal?.removeEventListener("abort", this.#onAbort);
    const abandoned = await settleInFlight(this.#inFlight, env.signal, env.shutdownTimeout ?? Infinity, env.logger);
    for (const { row, run } of abandoned) {
      if (run.closed) continue;
      run.result.unattempted.push(row);
      run.pending--;
    }
    for (const { run } of abandoned) {
      if (run.closed) continue;
      run.closed = true;
      run.resolve(run.result);
    }
  }

  /** Asks for the lower-cased recipients of `row` on the don't-send list as its send starts (on a
   * server, read once awaited); null when the list cannot be read (the pass stops, as for any
   * database failure before a send, and the row is released). */
  #listedNow(dontSend: DontSendCheck, row: ClaimedRow, batch: DontSendSnapshot): Answer<Set<string> | null> {
    return thenOf(dontSend.ask(row, batch), (listed) => listed, (error) => {
      this.#state.stop = "fatal";
      this.#state.failure ??= error;
      return null;
    });
  }

  /** A message past its expires_at is not sent (it may have waited for a limit since its claim). */
  #expired(row: ClaimedRow, suppressed: Set<string>): Attempt | null {
    if (row.expires_at === null || row.expires_at === undefined) return null;
    const expiresAt = fromDbTime(row.expires_at);
    if (this.#env.clock().getTime() < expiresAt.getTime()) return null;
    return unsentAttempt(row, suppressed, "expired", `expired at ${expiresAt.toISOString()} before it was sent`);
  }

  /** Asks the shared limits for this message: the slots it holds while it is sent (released when its
   * send settles), an attempt that is not sent (held back by a domain's limit, or expired while it
   * waited: the pass goes on with the next message), or "stop"/"deadline". Waits for the fleet-wide rate, and for this worker's own sends to a domain
   * whose concurrency they use up. */
  async #admit(row: ClaimedRow, suppressed: Set<string>, leaseDeadline: number): Promise<{ release(): Promise<void> } | Attempt | "stop" | "deadline"> {
    const env = this.#env;
    const state = this.#state;
    const recipients = splitRecipients(row.envelope_to).filter((r) => !suppressed.has(r.toLowerCase()));
    for (let waited = false; ; waited = true) {
      // It may have expired while it waited for the fleet's rate or a slot (start() checked before).
      const expired = waited ? this.#expired(row, suppressed) : null;
      if (expired) {
        this.#report(expired, performance.now());
        state.expired++;
        return expired;
      }
      let admission;
      try {
        admission = await env.gate!.admit(recipients);
      } catch (error) {
        state.stop = "fatal";
        state.failure ??= error;
        return "stop";
      }
      switch (admission.kind) {
        case "go":
          return admission;
        case "wait":
          // The fleet-wide rate holds every message alike: wait here, as for throttle.
          if (env.clock().getTime() + admission.ms >= leaseDeadline) {
            state.rateWaitUntil = env.clock().getTime() + admission.ms;
            return "deadline";
          }
          await sleep(admission.ms, env.signal);
          if (!(await this.withinLimits())) return "stop";
          continue;
        case "own-slot":
          await this.waitForOne();
          if (!(await this.withinLimits())) return "stop";
          continue;
        case "hold": {
          const held = unsentAttempt(row, suppressed, "held");
          held.held = { limit: admission.limit, until: admission.until };
          state.held++;
          state.heldUntil.push(admission.until.getTime());
          return held;
        }
        case "daily":
          if (state.stop === null) env.logger.warn(`the daily limit (limits.daily = ${admission.limit}) is reached; mail waits in the queue until 00:00 UTC`);
          state.stop ??= "daily_limit";
          return "stop";
      }
    }
  }

  #send(run: Run, row: ClaimedRow, dontSend: DontSendSnapshot, release?: () => Promise<void>): void {
    const state = this.#state;
    const startedAt = performance.now();
    // The list as it is now, after any wait for a limit: asked for as the transaction starts, read
    // before its text goes. An address added since the claim is not mailed.
    const recheck = this.#env.dontSend ? this.#listedNow(this.#env.dontSend, row, dontSend) : undefined;
    const sending = attemptDelivery(this.#env, row, dontSend.suppressed, recheck);
    // The send's limit slots are free again before anyone waiting for this send wakes up.
    const task: Promise<void> = (release ? sending.finally(release) : sending)
      .then((attempt) => this.#settle(run, attempt, startedAt))
      .catch((error) => {
        // attemptDelivery handles every delivery failure; reaching here is a bug: stop, keep the row.
        state.stop = "fatal";
        state.failure ??= new Error(`internal error while sending message ${row.id}: ${errorText(error)}`);
        if (!run.closed) run.result.attempts.push(releasedAttempt(row));
      })
      .finally(() => {
        if (!this.#inFlight.delete(task)) return;
        this.#wakeUp();
        if (run.closed) return;
        run.pending--;
        this.#settleIfDone(run);
      });
    this.#inFlight.set(task, { row, run });
    run.pending++;
    run.result.sends++;
  }

  #settleIfDone(run: Run): void {
    if (run.closed || !run.dispatched || run.pending > 0) return;
    run.closed = true;
    run.resolve(run.result);
  }

  #report(attempt: Attempt, startedAt: number): void {
    const { logger, onOutcome } = this.#env;
    // Nothing is built for nobody: under cron send-mail logs at warn and draws no progress line, and
    // a sent message's line is an info line. (A deferral's may be an error line: it goes on.)
    if (!onOutcome && attempt.state === "done" && !logsAt(logger, "info")) return;
    const outcome = outcomeOf(attempt, performance.now() - startedAt);
    if (!outcome) return;
    logOutcome(logger, outcome);
    onOutcome?.(outcome);
  }

  #settle(run: Run, attempt: Attempt, startedAt: number): void {
    if (run.closed) return;
    const state = this.#state;
    run.result.attempts.push(attempt);
    this.#report(attempt, startedAt);
    if (attempt.handlerFailure) {
      state.stop = "handler";
      state.failure ??= attempt.handlerFailure;
    }
    if (attempt.delivered.length > 0) state.sent++;
    else if (attempt.state === "done" && attempt.suppressed.length > 0) state.dontSend++; // listed as it was sent
    if (attempt.state === "deferred") state.deferred++;
    if (attempt.state === "failed") state.failed++;
  }

  /** Waits until one more send may start: "stop" when the pass must stop here, "deadline" when
   * this batch's lease is too far spent to start another of its sends. */
  async #mayStart(leaseDeadline: number): Promise<"go" | "stop" | "deadline"> {
    for (;;) {
      if (!(await this.withinLimits())) return "stop";
      if (this.#inFlight.size < this.#concurrency) break;
      await this.waitForOne();
    }
    return this.#env.clock().getTime() < leaseDeadline ? "go" : "deadline";
  }
}

/** A batch none of whose rows were started (claimed ahead, then not needed): all released. */
export function unstartedRun(rows: ClaimedRow[]): BatchRun {
  return { done: Promise.resolve({ attempts: [], unattempted: rows, sends: 0 }), deadlineHit: false };
}

function releasedAttempt(row: ClaimedRow): Attempt {
  return {
    row, raw: row.message_data, messageId: row.message_id, delivered: [], deliveredNote: "",
    suppressed: [], remaining: [], state: "released", error: "",
  };
}
