// Capped, jittered exponential backoff for the LISTEN connection's reconnects.
//
// Why jitter: after a database restart every runmailer-pg on every host loses its connection at the
// same instant; without jitter they would all reconnect in lock-step, every retry, against a server
// that is still starting. Why a cap: a long outage must not push the next try out to many minutes —
// mail should flow again soon after the server is back.

export interface BackoffOptions {
  /** The first retry waits between base/2 and base. */
  baseMs: number;
  /** No wait is longer than this. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 };

/** The wait before retry number `attempt` (1 = the first retry): "equal jitter", i.e. uniformly
 * between half and all of min(cap, base x 2^(attempt-1)), so waits still grow while spreading out. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** exponent);
  return ceiling / 2 + random() * (ceiling / 2);
}
