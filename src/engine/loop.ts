// runmailer's loop: passes back to back while there is mail to send, a sleep of empty_queue_sleep when
// there is not — and also when the lock is held elsewhere or a limit stopped the pass, so the loop
// never spins (django-mailer's send_loop did, issue #146). runmailer-pg reuses passAndDecide.
import { classifyDatabaseError } from "../db/connect.ts";
import { hasSendable, nextDueAt } from "../db/queries/claims.ts";
import type { Database } from "../db/connect.ts";
import { errorText } from "../errors.ts";
import { TempFailError } from "../errors.ts";
import { sleep } from "../runtime.ts";
import { runPass, summaryLine, type EngineEnv } from "./pass.ts";

export interface LoopOptions {
  signal: AbortSignal;
  /** Called before each pass, so a reloaded config takes effect at the next pass. */
  env: () => EngineEnv;
  /** Ends the sleep early (a spool file arrived). */
  wake?: LoopWake;
}

/** A wake-up for the loop's sleep; one that comes during a pass ends the next sleep at once. */
export class LoopWake {
  #pending = false;
  #stop: AbortController | null = null;

  wake(): void {
    this.#pending = true;
    this.#stop?.abort();
  }

  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted) {
      this.#pending = false;
      return;
    }
    this.#stop = new AbortController();
    const both = AbortSignal.any([signal, this.#stop.signal]);
    await sleep(ms, both);
    this.#stop = null;
    this.#pending = false;
  }
}

export async function runLoop(options: LoopOptions): Promise<void> {
  const { signal } = options;
  const wake = options.wake ?? new LoopWake();
  while (!signal.aborted) {
    const env = options.env();
    const idle = await passAndDecide(env, signal);
    if (signal.aborted) break;
    if (idle) {
      const ms = await idleMs(env.db, env.config.delivery.empty_queue_sleep * 1000, env.logger);
      env.logger.debug(`sleeping for ${Number((ms / 1000).toFixed(3))} s before checking the queue again`);
      await wake.sleep(ms, signal);
    }
  }
}

/** How long an idle worker may sleep: its beat, or less when a message comes due sooner (send-at,
 * a limit's hold, an automatic retry), so that it goes out on time rather than on the next beat. */
export async function idleMs(db: Database, beatMs: number, logger: { debug(text: string): void }): Promise<number> {
  try {
    const due = await nextDueAt(db, new Date());
    // A few milliseconds after the time itself: the claim compares with a clock read after waking.
    return due === null ? beatMs : Math.max(0, Math.min(beatMs, due.getTime() - Date.now() + 5));
  } catch (error) {
    logger.debug(`could not read when the next message is due (sleeping the beat): ${errorText(error)}`);
    return beatMs;
  }
}

export interface DecideOptions {
  /** The caller hears of every message committed (runmailer-pg's NOTIFY): a pass that ended on an
   * empty claim has looked already, and what is committed after that look wakes the caller anyway. */
  commitsAnnounced?: boolean;
}

/** Runs one pass, logging its summary when it did anything; true when the caller should wait before
 * the next one. A database that is down right now is logged and waited out rather than ending the worker. */
export async function passAndDecide(env: EngineEnv, signal: AbortSignal, options: DecideOptions = {}): Promise<boolean> {
  if (env.config.delivery.pause_send) {
    env.logger.debug("sending is paused (delivery.pause_send)");
    return true;
  }
  try {
    const result = await runPass(env, { signal });
    if (result.sent + result.deferred + result.failed + result.dontSend > 0) env.logger.info(summaryLine(result));
    if (result.lockHeld || result.stoppedBy === "max_batch" || result.stoppedBy === "max_deferred" || result.stoppedBy === "daily_limit") return true;
    if (options.commitsAnnounced && result.emptied && result.stoppedBy === null) return true;
    return !(await hasSendable(env.db, (env.clock ?? (() => new Date()))()));
  } catch (error) {
    const mapped = classifyDatabaseError(error, env.db.displayUrl);
    if (!(mapped instanceof TempFailError)) throw error;
    env.logger.warn(`pass failed; retrying after the sleep: ${mapped.message}`);
    return true;
  }
}
