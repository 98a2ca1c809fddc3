// What a pass tells whoever watches it (the workers' Prometheus metrics, src/web/metrics/): each
// outcome, how long each claim and each record statement took, and each finished pass. The engine
// knows nothing of Prometheus; a watcher that throws is a bug in the watcher, not a failed send.
import type { Outcome } from "./outcome.ts";

export interface EngineObserver {
  outcome(outcome: Outcome): void;
  /** A claim statement: its duration and how many messages it claimed. */
  claimed(seconds: number, messages: number): void;
  /** A batch's record transaction. */
  recorded(seconds: number, messages: number): void;
  passFinished(result: { sent: number; deferred: number; failed: number; dontSend: number; lockHeld: boolean }): void;
}
