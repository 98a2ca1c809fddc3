// Graceful shutdown of a batch. After the first SIGTERM/SIGINT no new send starts; the sends in
// flight get delivery.shutdown_timeout seconds to finish and be recorded as usual. Past that they are
// abandoned: the pass records their messages as *released* (queued, unclaimed), never as deferred,
// because the server may already have taken them — a later pass sends them again (at least once),
// and the process can exit at once, with its lock and every claim given back.
import type { Logger } from "../log.ts";

const noop = () => {};

/** Resolves when `promise` settles or `signal` aborts, whichever is first. The abort listener is
 * removed again: the dispatcher waits like this for every send, and runmailer's signal lives for
 * the whole run (racing a long-lived promise instead would keep every waiter alive until then). */
export function waitOrAbort(promise: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  const settled = promise.then(noop, noop);
  if (!signal) return settled;
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    void settled.then(done);
  });
}

function timeout(ms: number): { done: Promise<false>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<false>((resolve) => {
    if (Number.isFinite(ms)) timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  return { done, cancel: () => clearTimeout(timer) };
}

/** Waits for every send in `inFlight` (each task removes itself when it settles). Returns the
 * values (claimed rows) of the sends still running when the shutdown timeout ran out; [] when all
 * finished. Without a signal it simply waits for all of them. */
export async function settleInFlight<T>(
  inFlight: Map<Promise<void>, T>,
  signal: AbortSignal | undefined,
  timeoutSeconds: number,
  logger: Logger,
): Promise<T[]> {
  const all = () => Promise.all(inFlight.keys()).then(() => true as const);
  await waitOrAbort(all(), signal);
  if (inFlight.size === 0) return [];
  const limit = timeout(timeoutSeconds * 1000);
  const finished = await Promise.race([all(), limit.done]);
  limit.cancel();
  if (finished || inFlight.size === 0) return [];
  const abandoned = [...inFlight.values()];
  logger.warn(
    `shutdown_timeout (${timeoutSeconds} s) ran out with ${abandoned.length} send(s) in flight: abandoning them; ` +
      "their messages are released for a later pass (the server may have taken them already)",
  );
  return abandoned;
}
