// When a deferred message is tried again ([retry] auto), and when it is given up on. Without `auto`
// nothing here changes django-mailer's behaviour: a deferral parks the message until retry-deferred.
//
// With `auto`, a deferral stays status 'deferred' (so `status`, `list --deferred` and monitoring see
// it as deferred) and gets its own next_attempt_at. At the start of each pass the deferred messages
// that are due go back to 'queued' with one more retry counted, exactly as retry-deferred would do
// for them (maintenance.ts requeueDueDeferred). The claim query is untouched, and `status --json`
// "queued" keeps counting only what a pass would send now.
import type { Config } from "../config/types.ts";
import type { Database } from "../db/connect.ts";
import { fromDbTime } from "../db/dialect.ts";
import { requeueDueDeferred } from "../db/queries/maintenance.ts";
import type { DbTime } from "../db/schema.ts";
import type { Logger } from "../log.ts";

export interface RetryPolicy {
  auto: boolean;
  permanentOn5xx: boolean;
  /** Seconds. */
  minBackoff: number;
  maxBackoff: number;
  /** Seconds since when_added; 0 = no limit. */
  maxLifetime: number;
  /** 0..1: each wait is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
  /** delivery.max_retries: bounds automatic retries too. */
  maxRetries: number | null;
  /** [0, 1), replaceable so tests can pin the jitter. */
  random: () => number;
}

export function retryPolicy(config: Config, random: () => number = Math.random): RetryPolicy {
  const r = config.retry;
  return {
    auto: r.auto,
    permanentOn5xx: r.permanent_on_5xx,
    minBackoff: r.min_backoff,
    maxBackoff: r.max_backoff,
    maxLifetime: r.max_lifetime,
    jitter: r.jitter,
    maxRetries: config.delivery.max_retries,
    random,
  };
}

/** Seconds to wait after a deferral of a message retried `retryCount` times so far: min_backoff
 * doubled per earlier retry, varied by the jitter, never longer than max_backoff. */
export function backoffSeconds(policy: RetryPolicy, retryCount: number): number {
  const base = Math.min(policy.maxBackoff, policy.minBackoff * 2 ** Math.min(Math.max(retryCount, 0), 52));
  const varied = base * (1 + policy.jitter * (2 * policy.random() - 1));
  return Math.max(0, Math.min(policy.maxBackoff, varied));
}

export type AfterDeferral =
  | { status: "deferred"; nextAttemptAt: Date | null }
  | { status: "failed"; nextAttemptAt: null; reason: string };

/** What a deferral becomes under the policy: deferred (with a next attempt time when auto), or
 * failed because the message has used up max_retries or outlived max_lifetime. */
export function afterDeferral(policy: RetryPolicy, row: { retry_count: number; when_added: DbTime }, now: Date): AfterDeferral {
  if (!policy.auto) return { status: "deferred", nextAttemptAt: null };
  if (policy.maxRetries !== null && row.retry_count >= policy.maxRetries) {
    return { status: "failed", nextAttemptAt: null, reason: `given up after ${row.retry_count} retries (delivery.max_retries = ${policy.maxRetries})` };
  }
  const added = fromDbTime(row.when_added).getTime();
  const lifetimeMs = policy.maxLifetime * 1000;
  if (lifetimeMs > 0 && now.getTime() - added >= lifetimeMs) {
    return { status: "failed", nextAttemptAt: null, reason: `given up: queued longer than retry.max_lifetime (${formatDuration(policy.maxLifetime)})` };
  }
  let next = now.getTime() + backoffSeconds(policy, row.retry_count) * 1000;
  // The last attempt falls on the end of the lifetime rather than after it.
  if (lifetimeMs > 0) next = Math.min(next, added + lifetimeMs);
  return { status: "deferred", nextAttemptAt: new Date(next) };
}

/** 432000 -> "5d", 5400 -> "1h30m", 90 -> "1m30s". */
export function formatDuration(seconds: number): string {
  let rest = Math.round(seconds);
  if (rest <= 0) return "0s";
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("");
}

/** At the start of a pass under [retry] auto: deferred messages that are due go back to the queue. */
export async function requeueDue(db: Database, config: Config, now: Date, logger: Logger): Promise<void> {
  if (!config.retry.auto) return;
  const count = await requeueDueDeferred(db, now);
  if (count > 0) logger.info(`${count} deferred message(s) due again re-queued ([retry] auto)`);
}
