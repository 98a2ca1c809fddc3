// One message, one attempt: build what goes on the wire, send it, and when that fails ask the error
// handler. Never throws for a delivery problem; a handler that breaks its contract is reported in
// `handlerFailure` so the pass can stop after recording what already happened.
import type { ClaimedRow } from "../db/queries/claims.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import { errorText } from "../errors.ts";
import { logsAt, type Logger } from "../log.ts";
import { firstValue, joinMessage, makeField, splitMessage } from "../queue/headers.ts";
import { newMessageId } from "../queue/message-id.ts";
import {
  checkDecision,
  HandlerFailure,
  isDeliveryError,
  type ErrorHandler,
  type HandlerAction,
} from "./error-handler.ts";
import { classifyError } from "./error-classes.ts";
import { afterDeferral, type RetryPolicy } from "./retry-policy.ts";
import type { TransportHolder } from "./transport-holder.ts";
import { started, thenOf, type Answer } from "./on-demand.ts";

/** released: given back as it was; expired: past its expires_at, dropped unsent; held: put back
 * until a domain's limit allows it (not a deferral). */
export type AttemptState = "done" | "deferred" | "failed" | "released" | "expired" | "held";

export interface Attempt {
  row: ClaimedRow;
  /** The text as sent (the stored text, plus a Message-ID when it had none). */
  raw: Uint8Array;
  messageId: string;
  /** Recipients that have the message now: a success log row names them. */
  delivered: string[];
  /** Why `delivered` counts as delivered when the backend said otherwise (the handler said "sent"). */
  deliveredNote: string;
  /** Recipients dropped at send time because they are on the don't-send list. */
  suppressed: string[];
  /** Recipients still owed the message (kept on the row when it stays). */
  remaining: string[];
  state: AttemptState;
  /** The failure text for the log and last_error. */
  error: string;
  /** Deferred under [retry] auto: when the message is due again (null: until retry-deferred). */
  nextAttemptAt?: Date | null;
  /** Held: the limit, and when the message is due again. */
  held?: { limit: string; until: Date };
  handlerFailure?: HandlerFailure;
}

export interface AttemptEnv {
  transport: TransportHolder;
  handler: ErrorHandler;
  logger: Logger;
  /** Error classes and automatic retry ([retry]). */
  policy: RetryPolicy;
  clock: () => Date;
}

/** Rows written by plain SQL may lack a Message-ID: add one now, and the pass stores it with the row
 * so a retry sends the same one (django-mailer generated a new one on every attempt). */
export function withMessageId(row: ClaimedRow): { raw: Uint8Array; messageId: string } {
  if (row.message_id) return { raw: row.message_data, messageId: row.message_id };
  const split = splitMessage(row.message_data);
  const existing = firstValue(split.fields, "Message-ID");
  if (existing) return { raw: row.message_data, messageId: existing };
  const messageId = newMessageId();
  return { raw: joinMessage({ ...split, fields: [...split.fields, makeField("Message-ID", messageId)] }), messageId };
}

export function suppressedOnly(row: ClaimedRow, suppressed: Set<string>): Attempt | null {
  if (suppressed.size === 0) return null; // the usual case: no recipient to look up
  const recipients = splitRecipients(row.envelope_to);
  if (recipients.length === 0 || recipients.some((r) => !suppressed.has(r.toLowerCase()))) return null;
  return {
    row, raw: row.message_data, messageId: row.message_id, delivered: [], deliveredNote: "",
    suppressed: recipients, remaining: [], state: "done", error: "",
  };
}

/** A message that is not sent: it expired, or a limit holds it back. */
export function unsentAttempt(row: ClaimedRow, suppressed: Set<string>, state: "expired" | "held", error = ""): Attempt {
  const recipients = splitRecipients(row.envelope_to);
  return {
    row, raw: row.message_data, messageId: row.message_id, delivered: [], deliveredNote: "", state, error,
    suppressed: [], remaining: recipients.filter((r) => !suppressed.has(r.toLowerCase())),
  };
}

/** `recheck`: the don't-send list read again as the send starts (null: it could not be read). The
 * SMTP transaction runs meanwhile, but its text is held back until the answer is in: if a recipient
 * was listed since the claim, the transaction is abandoned before its end (nothing delivered) and
 * the message goes again to those left, or is dropped as don't-send; if the list could not be read,
 * the message is given back untouched. */
export async function attemptDelivery(
  env: AttemptEnv,
  row: ClaimedRow,
  suppressed: Set<string>,
  recheck?: Answer<Set<string> | null>,
): Promise<Attempt> {
  const recipients = splitRecipients(row.envelope_to);
  const to = recipients.filter((r) => !suppressed.has(r.toLowerCase()));
  const attempt: Attempt = {
    row, raw: row.message_data, messageId: row.message_id, delivered: [], deliveredNote: "",
    suppressed: recipients.filter((r) => suppressed.has(r.toLowerCase())), remaining: to, state: "done", error: "",
  };
  if (to.length === 0) return decide(env, attempt, new Error("message has no recipients (envelope_to is empty)"));
  try {
    Object.assign(attempt, withMessageId(row));
  } catch (error) {
    return decide(env, attempt, error);
  }
  // On a server, read when the transport is ready for the text (on demand: dont-send-check.ts).
  const hold = recheck && thenOf(recheck, (listed) => listed !== null && !to.some((r) => listed.has(r.toLowerCase())));
  const failure = await send(env, attempt, to, hold);
  if (failure === null) return attempt;
  if (!hold || (await started(hold))) return decide(env, attempt, failure);
  // Abandoned before the end of its text: nobody got it.
  const listed = await started(recheck!);
  if (listed === null) {
    attempt.state = "released";
    return attempt;
  }
  const left = recipients.filter((r) => !listed.has(r.toLowerCase()));
  attempt.suppressed = recipients.filter((r) => listed.has(r.toLowerCase()));
  attempt.remaining = left;
  if (left.length === 0) return attempt; // every recipient is on the list now: dont_send
  const again = await send(env, attempt, left);
  return again === null ? attempt : decide(env, attempt, again);
}

/** One SMTP transaction to `to`; null when it went through (partial refusals become the failure). */
async function send(env: AttemptEnv, attempt: Attempt, to: string[], hold?: PromiseLike<boolean>): Promise<unknown> {
  const { row } = attempt;
  try {
    if (logsAt(env.logger, "debug")) env.logger.debug("sending", { id: row.id, message_id: attempt.messageId, to });
    const result = await env.transport.send({
      envelope: { from: row.envelope_from, to },
      raw: attempt.raw,
      id: row.id,
      messageId: attempt.messageId,
      hold,
    });
    const rejected = new Set(result.rejected.map((r) => r.toLowerCase()));
    attempt.delivered = to.filter((r) => !rejected.has(r.toLowerCase()));
    attempt.remaining = to.filter((r) => rejected.has(r.toLowerCase()));
    if (attempt.remaining.length === 0) return null;
    // Partial rejection: the accepted recipients have it and must never get it again; only the
    // refused ones stay owed, and the handler decides about them.
    return refusalError(attempt.remaining, result.rejectedReasons ?? []);
  } catch (error) {
    return error;
  }
}

async function decide(env: AttemptEnv, attempt: Attempt, failure: unknown): Promise<Attempt> {
  const { row } = attempt;
  const text = describeError(failure);
  attempt.error = isDeliveryError(failure) ? text : `unexpected error: ${text}`;
  const verdict = classifyError(failure, env.policy.permanentOn5xx);
  let action: HandlerAction;
  try {
    const decision = checkDecision(
      await env.handler(
        {
          transport: env.transport.name, logger: env.logger, reconnect: () => env.transport.reconnect(),
          verdict, suggested: verdict.permanent ? "failed" : "deferred",
        },
        {
          id: row.id, messageId: attempt.messageId, subject: row.subject,
          envelope: { from: row.envelope_from, to: [...attempt.remaining] },
          raw: attempt.raw, priority: row.priority, retryCount: row.retry_count,
        },
        failure,
      ),
    );
    if (decision.newConnection) env.transport.reconnect();
    action = decision.action;
  } catch (error) {
    attempt.state = "released";
    attempt.handlerFailure =
      error instanceof HandlerFailure ? error : new HandlerFailure(`error handler threw: ${errorText(error)}`, error);
    return attempt;
  }
  if (action === "sent") {
    attempt.deliveredNote = `error handler reported sent after: ${attempt.error}`;
    attempt.delivered = [...attempt.delivered, ...attempt.remaining];
    attempt.remaining = [];
    attempt.state = "done";
    return attempt;
  }
  // Logged with its error by the dispatcher's one line per outcome (outcome.ts).
  attempt.state = action;
  if (action === "deferred") {
    // Decided here rather than when recording, so the outcome line and the pass summary say "failed"
    // for a message that has used up its retries or its lifetime.
    const next = afterDeferral(env.policy, row, env.clock());
    attempt.nextAttemptAt = next.nextAttemptAt;
    if (next.status === "failed") {
      attempt.state = "failed";
      attempt.error = `${attempt.error}; ${next.reason}`;
    }
  }
  return attempt;
}

/** A partial refusal as an error shaped like nodemailer's total one (EENVELOPE with rejectedErrors),
 * so the error classes and a user handler see both alike. Each reason pairs with its recipient. */
function refusalError(refused: string[], reasons: string[]): Error {
  const paired = reasons.length === refused.length;
  const list = paired ? refused.map((r, i) => `${r} (${reasons[i]})`).join("; ") : refused.join(", ");
  const extra = !paired && reasons.length ? `: ${reasons.join("; ")}` : "";
  return Object.assign(new Error(`recipients refused: ${list}${extra}`), {
    code: "EENVELOPE",
    rejected: refused,
    // Reply codes are read from the reasons' text ("Recipient command failed: 550 …"); without one
    // reason per recipient nothing can be said per recipient, which classifies as temporary.
    rejectedErrors: paired
      ? reasons.map((reason, i) => ({
          message: reason,
          recipient: refused[i],
          responseCode: Number(/(?:^|: )([2-5]\d\d)\b/.exec(reason)?.[1]) || undefined,
        }))
      : [],
  });
}

/** The error's text with its code and SMTP reply code, which operators search logs for. */
export function describeError(error: unknown): string {
  const e = error as { code?: unknown; responseCode?: unknown; originalCode?: unknown } | null;
  const text = errorText(error);
  const codes = [e?.code, e?.originalCode].filter((c) => typeof c === "string" && !text.includes(c as string));
  return codes.length ? `${text} (${codes.join("/")})` : text;
}
