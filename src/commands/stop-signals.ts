// SIGTERM/SIGINT for the sending commands (only commands install signal handlers). The first signal
// asks the engine to stop: in-flight sends finish (nodemailer's timeouts bound them), outcomes are
// recorded, unsent claims released, the lock released, exit 0. A second one exits at once: claims and
// the lock are then left to the next pass, which finds this PID gone and takes them over.
import type { Logger } from "../log.ts";

export function stopOnSignals(logger: Logger): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      logger.info(`${name} received: finishing what is in flight, then exiting`);
      controller.abort();
      return;
    }
    logger.warn(`${name} received again: exiting now`);
    process.exit(name === "SIGINT" ? 130 : 143);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    },
  };
}
