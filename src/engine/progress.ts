// send-mail's progress line, for a person draining a backlog at a terminal:
// `1234/10000 sent, 350 msg/s, ETA 25 s`, redrawn in place about once a second once a pass has
// gone past a few hundred messages. The command only creates one when stderr is a terminal, so cron
// and pipes never see it. Clock and writer are injected: the throttling is tested without waiting.
import type { Outcome } from "./outcome.ts";

export interface ProgressCounts {
  sent: number;
  deferred: number;
  failed: number;
  dontSend: number;
}

/** "25 s", "3 min 20 s", "2 h 5 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The line itself; `total` is what was sendable when the pass began (mail queued meanwhile can
 * push the count past it: the ETA is then left out rather than made up). */
export function formatProgress(counts: ProgressCounts, total: number, elapsedS: number): string {
  const done = counts.sent + counts.deferred + counts.failed + counts.dontSend;
  const rate = elapsedS > 0 ? done / elapsedS : 0;
  const parts = [`${counts.sent}/${Math.max(total, done)} sent`];
  if (counts.deferred > 0) parts.push(`${counts.deferred} deferred`);
  if (counts.failed > 0) parts.push(`${counts.failed} failed`);
  parts.push(`${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} msg/s`);
  if (rate > 0 && total > done) parts.push(`ETA ${formatDuration((total - done) / rate)}`);
  return parts.join(", ");
}

export interface ProgressOptions {
  total: number;
  /** Writes to the terminal, no newline added. */
  write: (text: string) => void;
  /** Milliseconds, monotonic. */
  now?: () => number;
  /** Outcomes before the line first appears: a short pass stays a single summary line. */
  threshold?: number;
  intervalMs?: number;
}

const CLEAR = "\r\x1b[K";

export class ProgressLine {
  readonly #o: Required<ProgressOptions>;
  readonly #started: number;
  #counts: ProgressCounts = { sent: 0, deferred: 0, failed: 0, dontSend: 0 };
  #shown = "";
  #lastDraw = -Infinity;

  constructor(options: ProgressOptions) {
    this.#o = { now: () => performance.now(), threshold: 200, intervalMs: 1000, ...options };
    this.#started = this.#o.now();
  }

  /** Counts one outcome; redraws when due. */
  record(outcome: Pick<Outcome, "result">): void {
    const c = this.#counts;
    if (outcome.result === "sent") c.sent++;
    else if (outcome.result === "deferred") c.deferred++;
    else if (outcome.result === "failed") c.failed++;
    else c.dontSend++;
    const done = c.sent + c.deferred + c.failed + c.dontSend;
    const now = this.#o.now();
    if (done < this.#o.threshold || now - this.#lastDraw < this.#o.intervalMs) return;
    this.#lastDraw = now;
    this.#shown = formatProgress(c, this.#o.total, (now - this.#started) / 1000);
    this.#o.write(CLEAR + this.#shown);
  }

  /** A log line while the progress line is up: printed above it, the progress line redrawn below. */
  above(line: string): void {
    this.#o.write(this.#shown ? `${CLEAR}${line}\n${this.#shown}` : `${line}\n`);
  }

  /** Removes the line (before the summary is printed). */
  clear(): void {
    if (this.#shown) this.#o.write(CLEAR);
    this.#shown = "";
  }
}
