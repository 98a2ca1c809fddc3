// When runmailer-pg runs a pass: at start, when notified, after the LISTEN connection comes back,
// right away again while mail is left, and otherwise on the beat (empty_queue_sleep seconds after
// the last pass ended, so a pass runs at least that often: NOTIFY is a hint, polling is the truth).
//
// Coalescing: at most one pass runs and at most one is pending. One pass drains everything that is
// sendable, so 1,000 notifications (say, 1,000 inserts committed in one transaction) need one pass,
// not 1,000. Passes are serial on purpose, as django-mailer's: throttle and max_batch then mean the
// same as under send-mail, and providers' rate limits stay predictable.
import type { Logger } from "../log.ts";

export type PassReason = "start" | "notify" | "beat" | "reconnect" | "more" | "spool";

export interface SchedulerOptions {
  logger: Logger;
  signal: AbortSignal;
  /** Runs one pass; resolves true when nothing more is sendable now (passAndDecide). */
  pass(reason: PassReason): Promise<boolean>;
  /** Is anything sendable right now? Asked before a pass that only notifications received during
   * the previous pass asked for (see run()). */
  sendable(): Promise<boolean>;
  /** Milliseconds until the next wait ends by itself: the beat, or sooner when a message comes due
   * (loop.ts idleMs). Asked at each wait, so a reloaded config applies. */
  idleMs(): Promise<number>;
}

export class PassScheduler {
  readonly #options: SchedulerOptions;
  #pending: PassReason | null = null;
  /** The pending request came only from notifications received while a pass was running. */
  #pendingDuringPass = false;
  #running = false;
  #wake: (() => void) | null = null;

  constructor(options: SchedulerOptions) {
    this.#options = options;
  }

  /** Asks for a pass; a no-op when one is already pending. */
  request(reason: PassReason): void {
    if (this.#pending !== null) {
      // A beat or a reconnect outranks a notification: its pass must not be skipped by the check
      // below (it also releases dead workers' claims and picks up what nobody was notified about).
      if (reason !== "notify" && this.#pending === "notify") {
        this.#pending = reason;
        this.#pendingDuringPass = false;
      }
      return;
    }
    this.#pending = reason;
    this.#pendingDuringPass = this.#running && reason === "notify";
    this.#wake?.();
  }

  /** Runs passes until the signal aborts; a pass in flight when it does is finished by the engine
   * (in-flight sends complete and are recorded, the rest of its claims released). */
  async run(): Promise<void> {
    const { logger, signal } = this.#options;
    this.#pending ??= "start";
    while (!signal.aborted) {
      if (this.#pending === null) await this.#idle();
      if (signal.aborted) break;
      const reason = this.#pending ?? "beat";
      const onlyNotifiedDuringPass = this.#pendingDuringPass;
      this.#pending = null;
      this.#pendingDuringPass = false;
      // Notifications are sent after their transaction commits, so every one received before this
      // query starts is for a row the query can see. If nothing is sendable, the pass that just
      // ended (or another worker) took those rows: skip the pass instead of running an empty one.
      // A notification arriving during the query sets a new pending request, handled next turn.
      if (onlyNotifiedDuringPass && !(await this.#sendable())) {
        logger.debug("notified during the last pass, and nothing is left to send");
        continue;
      }
      this.#running = true;
      logger.debug("pass starting", { reason });
      let idle: boolean;
      try {
        idle = await this.#options.pass(reason);
      } finally {
        this.#running = false;
      }
      logger.debug("pass finished", { reason, idle });
      if (!idle && this.#pending === null) this.#pending = "more";
    }
  }

  async #sendable(): Promise<boolean> {
    try {
      return await this.#options.sendable();
    } catch {
      return true; // cannot tell (database trouble): let the pass find out and report it
    }
  }

  /** Waits for a request, the beat (or the next message's due time), or the stop signal. */
  async #idle(): Promise<void> {
    const { signal } = this.#options;
    const ms = await this.#options.idleMs();
    if (this.#pending !== null || signal.aborted) return; // asked for while we looked
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(() => {
        this.#pending ??= "beat";
        done();
      }, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }
}
