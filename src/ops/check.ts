// `status --check`: thresholds for cron or a health probe. Pure: a report in, the crossed limits out.
import { UsageError } from "../errors.ts";
import type { StatusReport } from "./status-report.ts";

export interface Thresholds {
  maxAge?: number;
  maxQueued?: number;
  maxDeferred?: number;
  maxFailed?: number;
}

const FLAGS: Record<keyof Thresholds, string> = {
  maxAge: "--max-age",
  maxQueued: "--max-queued",
  maxDeferred: "--max-deferred",
  maxFailed: "--max-failed",
};

/** Reads the --max-* options (cac hands over numbers, strings or `true` for a bare flag). */
export function parseThresholds(options: Record<string, unknown>): Thresholds {
  const out: Thresholds = {};
  for (const [key, flag] of Object.entries(FLAGS) as Array<[keyof Thresholds, string]>) {
    const raw = options[key];
    if (raw === undefined) continue;
    const value = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
    if (!Number.isInteger(value) || value < 0) throw new UsageError(`${flag}: expected an integer >= 0, got ${JSON.stringify(raw)}`);
    out[key] = value;
  }
  return out;
}

/** One line per crossed threshold; empty when everything is within limits. */
export function crossedThresholds(report: StatusReport, limits: Thresholds): string[] {
  const reasons: string[] = [];
  const age = report.oldest_queued_age_s;
  if (limits.maxAge !== undefined && age !== null && age > limits.maxAge) {
    reasons.push(`oldest queued message is ${age} s old (--max-age ${limits.maxAge})`);
  }
  if (limits.maxQueued !== undefined && report.queued > limits.maxQueued) {
    reasons.push(`${report.queued} messages queued (--max-queued ${limits.maxQueued})`);
  }
  if (limits.maxDeferred !== undefined && report.deferred > limits.maxDeferred) {
    reasons.push(`${report.deferred} messages deferred (--max-deferred ${limits.maxDeferred})`);
  }
  if (limits.maxFailed !== undefined && report.failed > limits.maxFailed) {
    reasons.push(`${report.failed} messages failed (--max-failed ${limits.maxFailed})`);
  }
  return reasons;
}
