// What kind of failure a send met, and whether trying the same message again can help. One table,
// keyed by kind (as graphile-worker keys its retry policy), instead of tests scattered through the
// engine. The built-in error handler answers from it; a user error_handler sees the verdict in its
// context and still has the last word.
//
// Only a refusal of *this message* can be permanent: a 5xx to MAIL FROM, RCPT TO or the end of DATA
// (or a size the server announced it will never take). A 5xx at the greeting, EHLO or AUTH says
// something about the server or our credentials; failing the whole queue for it would lose mail that
// the next attempt, once an operator fixed the config, would deliver.

export type ErrorKind =
  | "reply-4xx"
  | "reply-503"
  | "sender-5xx"
  | "recipient-5xx"
  | "message-5xx"
  | "message-too-large"
  | "unsupported"
  | "server-5xx"
  | "rejected"
  | "auth"
  | "tls"
  | "timeout"
  | "connection"
  | "unexpected";

export interface ErrorClass {
  /** true: deferring can help. "on_5xx": permanent when [retry] permanent_on_5xx = true. */
  temporary: true | "on_5xx";
  /** For docs and log lines. */
  means: string;
}

export const ERROR_CLASSES: Record<ErrorKind, ErrorClass> = {
  "reply-4xx": { temporary: true, means: "the server asked us to try again later (4xx)" },
  "reply-503": { temporary: true, means: "bad sequence of commands: a session problem, not the message" },
  "sender-5xx": { temporary: "on_5xx", means: "the server refused the envelope sender (5xx to MAIL FROM)" },
  "recipient-5xx": { temporary: "on_5xx", means: "the server refused every remaining recipient with a 5xx" },
  "message-5xx": { temporary: "on_5xx", means: "the server refused the message at the end of DATA (5xx)" },
  "message-too-large": { temporary: "on_5xx", means: "the message is larger than the server's announced SIZE" },
  unsupported: {
    temporary: "on_5xx",
    means: "the message needs what the server does not offer (SMTPUTF8 for a non-ASCII address, 8BITMIME for a non-ASCII header)",
  },
  "server-5xx": { temporary: true, means: "a 5xx at greeting, EHLO or AUTH: about the server or our config" },
  rejected: { temporary: true, means: "refused without an SMTP reply code (a custom transport, an invalid address)" },
  auth: { temporary: true, means: "authentication failed or is required: fix the credentials" },
  tls: { temporary: true, means: "TLS could not be set up or the certificate was not trusted" },
  timeout: { temporary: true, means: "the server did not answer within backend.timeout" },
  connection: { temporary: true, means: "the connection failed, dropped or was refused" },
  unexpected: { temporary: true, means: "not a delivery error (a bug, a broken transport module)" },
};

export interface Verdict {
  kind: ErrorKind;
  /** The SMTP reply code when the server gave one. */
  responseCode: number | null;
  /** Permanent under the current permanent_on_5xx setting. */
  permanent: boolean;
}

interface SmtpishError {
  code?: unknown;
  responseCode?: unknown;
  command?: unknown;
  syscall?: unknown;
  rejectedErrors?: unknown;
}

const MESSAGE_COMMANDS = /^(MAIL FROM|RCPT TO|DATA)$/;
const isPermanentCode = (code: number) => code >= 500 && code < 600 && code !== 503;

/** The kind of a failure, from nodemailer's code, the SMTP command in flight and the reply code. */
export function errorKind(error: unknown): ErrorKind {
  const e = (error !== null && typeof error === "object" ? error : {}) as SmtpishError;
  const code = typeof e.code === "string" ? e.code : "";
  const reply = typeof e.responseCode === "number" ? e.responseCode : null;
  const command = typeof e.command === "string" ? e.command : "";
  if (code === "EAUTH" || code === "ENOAUTH" || code === "EOAUTH2") return "auth";
  if (code === "ETLS" || code === "EREQUIRETLS") return "tls";
  if (code === "ETIMEDOUT") return "timeout";
  // A partial or total recipient refusal: permanent only when every refusal was a permanent one.
  const refusals = Array.isArray(e.rejectedErrors) ? (e.rejectedErrors as SmtpishError[]) : [];
  if (code === "EENVELOPE" && refusals.length > 0) {
    const codes = refusals.map((r) => (typeof r?.responseCode === "number" ? r.responseCode : 0));
    if (codes.some((c) => c >= 400 && c < 500)) return "reply-4xx";
    if (codes.every(isPermanentCode)) return "recipient-5xx";
    return codes.includes(503) ? "reply-503" : "rejected";
  }
  if (reply !== null && reply >= 400 && reply < 600) {
    if (reply === 503) return "reply-503";
    if (reply < 500) return "reply-4xx";
    if (!MESSAGE_COMMANDS.test(command)) return "server-5xx";
    if (command === "MAIL FROM") return "sender-5xx";
    if (command === "RCPT TO") return "recipient-5xx";
    return "message-5xx";
  }
  // nodemailer refuses, before MAIL FROM, a message over the size the server announced in EHLO.
  if (code === "EMESSAGE" && command === "MAIL FROM" && reply === null) return "message-too-large";
  if (code === "EUNSUPPORTED") return "unsupported";
  if (code === "EENVELOPE" || code === "EMESSAGE") return "rejected";
  if (code !== "" && /^E[A-Z]+$/.test(code)) return "connection";
  if (typeof e.syscall === "string") return "connection";
  return "unexpected";
}

export function classifyError(error: unknown, permanentOn5xx: boolean): Verdict {
  const kind = errorKind(error);
  const reply = (error as SmtpishError | null)?.responseCode;
  return {
    kind,
    responseCode: typeof reply === "number" ? reply : null,
    permanent: ERROR_CLASSES[kind].temporary === "on_5xx" && permanentOn5xx,
  };
}
