// One log line per message outcome, the same fields in both formats, so a log shipper (or grep) can
// follow a message by its queue id or Message-ID: id, message_id, result, duration_ms, recipients,
// plus the error for a deferral or failure.
import type { Logger } from "../log.ts";
import type { Attempt } from "./attempt.ts";

export type OutcomeResult = "sent" | "deferred" | "failed" | "dont_send" | "expired";

export interface Outcome {
  id: number;
  message_id: string;
  result: OutcomeResult;
  duration_ms: number;
  /** The message's envelope recipients (those dropped by the don't-send list included). */
  recipients: number;
  /** Recipients that have the message now (a partial delivery says how far it got). */
  delivered: number;
  error?: string;
  /** A deferral under automatic retry: when the message is due again. */
  next_attempt_at?: string;
}

/** null for an attempt that is not an outcome (the handler broke its contract: the pass reports it). */
export function outcomeOf(attempt: Attempt, durationMs: number): Outcome | null {
  let result: OutcomeResult;
  if (attempt.state === "released" || attempt.state === "held") return null;
  if (attempt.state === "deferred" || attempt.state === "failed" || attempt.state === "expired") result = attempt.state;
  else result = attempt.delivered.length > 0 ? "sent" : "dont_send";
  const outcome: Outcome = {
    id: Number(attempt.row.id),
    message_id: attempt.messageId,
    result,
    duration_ms: Math.round(durationMs * 10) / 10,
    recipients: attempt.delivered.length + attempt.remaining.length + attempt.suppressed.length,
    delivered: attempt.delivered.length,
  };
  if (result === "deferred" || result === "failed") outcome.error = attempt.error;
  if (result === "deferred" && attempt.nextAttemptAt) outcome.next_attempt_at = attempt.nextAttemptAt.toISOString();
  return outcome;
}

export function logOutcome(logger: Logger, outcome: Outcome): void {
  const message =
    outcome.result === "dont_send" ? "message not sent (don't-send list)"
    : outcome.result === "expired" ? "message expired unsent"
    : `message ${outcome.result}`;
  // An unexpected error (a bug, a broken transport module) is worth an operator's attention.
  if (outcome.error?.startsWith("unexpected")) logger.error(`${message} after an unexpected error`, { ...outcome });
  else logger.info(message, { ...outcome });
}
