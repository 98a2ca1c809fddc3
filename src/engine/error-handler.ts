// The delivery error handler (SPEC §5, django-mailer's MAILER_ERROR_HANDLER): told the connection
// context, the message and the error, it decides what becomes of the message. The default answers
// from the error-class table (error-classes.ts): it defers every error, so one bad message never
// stalls the queue (django-mailer issues #48, #73, #181), except that with [retry] permanent_on_5xx
// a 5xx refusal of the message fails it for good (issues #24, #161).
//
// The module named by `error_handler` is trusted code: it runs inside the worker with the worker's
// rights (database, SMTP credentials). Only point it at a file as trusted as the binary itself.
import { ConfigError, MailerError, EXIT, errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Verdict } from "./error-classes.ts";

export interface HandlerContext {
  /** The backend type ("smtp", "module:name.ts", …). */
  transport: string;
  logger: Logger;
  /** Close the current connection(s) once their sends finish; the next message opens new ones. */
  reconnect(): void;
  /** The error's kind and whether it is permanent under [retry] permanent_on_5xx. */
  verdict: Verdict;
  /** What the built-in handler answers: "failed" for a permanent error, else "deferred". */
  suggested: "deferred" | "failed";
}

export interface HandlerMessage {
  id: number;
  messageId: string;
  subject: string;
  /** The recipients this attempt was for (after the don't-send list). */
  envelope: { from: string; to: string[] };
  raw: Uint8Array;
  priority: number;
  retryCount: number;
}

/** sent: treat as delivered (logged as success, removed). deferred: park until retry-deferred.
 * failed: park for good (retry-deferred leaves it; it shows in `status` as failed). */
export type HandlerAction = "sent" | "deferred" | "failed";
export interface HandlerDecision {
  action: HandlerAction;
  /** Same as calling context.reconnect(). */
  newConnection?: boolean;
}

export type ErrorHandler = (
  context: HandlerContext,
  message: HandlerMessage,
  error: unknown,
) => HandlerDecision | HandlerAction | Promise<HandlerDecision | HandlerAction>;

/** nodemailer's codes for transport, network and SMTP-protocol failures. */
const DELIVERY_CODES = new Set([
  "EAUTH", "ENOAUTH", "EOAUTH2", "EENVELOPE", "EMESSAGE", "ECONNECTION", "ETIMEDOUT", "ESOCKET", "EDNS",
  "EPROTOCOL", "ETLS", "EREQUIRETLS", "ESENDMAIL", "EMAXLIMIT", "EMAXRECIPIENTS", "EPROXY", "ESTREAM",
  "EUNSUPPORTED",
]);

/** True for the errors a delivery is expected to meet: SMTP replies, the network, the peer process.
 * As Python's OSError does for django-mailer, any Node system error (it has a syscall) counts. */
export function isDeliveryError(error: unknown): boolean {
  const e = error as { code?: unknown; responseCode?: unknown; syscall?: unknown } | null;
  if (e === null || typeof e !== "object") return false;
  if (typeof e.responseCode === "number") return true;
  if (typeof e.code === "string" && DELIVERY_CODES.has(e.code)) return true;
  return typeof e.syscall === "string";
}

/** The error-class table's answer; the engine labels non-delivery errors "unexpected" in the log. */
export const defaultErrorHandler: ErrorHandler = (context) => ({ action: context.suggested });

export async function loadErrorHandler(path: string | null): Promise<ErrorHandler> {
  if (path === null) return defaultErrorHandler;
  let mod: { default?: unknown; handler?: unknown };
  try {
    mod = (await import(path)) as typeof mod;
  } catch (error) {
    throw new ConfigError(`error_handler: cannot load ${path}: ${errorText(error)}`);
  }
  const handler = mod.default ?? mod.handler;
  if (typeof handler !== "function") {
    throw new ConfigError(`error_handler: ${path} must export a function (default export, or named "handler")`);
  }
  return handler as ErrorHandler;
}

/** A handler that throws, or answers something other than the contract, stops the pass (exit 70):
 * guessing what it meant could lose mail or send it twice. */
export class HandlerFailure extends MailerError {
  constructor(message: string, cause?: unknown) {
    super(message, EXIT.software, { cause });
  }
}

export function checkDecision(value: unknown): HandlerDecision {
  const decision = (typeof value === "string" ? { action: value } : value) as { action?: unknown; newConnection?: unknown } | null;
  const action = decision?.action;
  if (action === "sent" || action === "deferred" || action === "failed") {
    return { action, newConnection: decision?.newConnection === true };
  }
  throw new HandlerFailure(
    `error handler returned ${JSON.stringify(value) ?? String(value)}; expected { action: "sent" | "deferred" | "failed" }`,
  );
}
