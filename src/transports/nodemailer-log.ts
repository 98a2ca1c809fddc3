// nodemailer's own logger (bunyan-style: `logger.info({ tnx, cid }, "format %s", arg)`) routed into
// ours at debug level: its chatter is for debugging a connection, not for the operator's log. The
// SMTP conversation itself is passed only when we log at debug (nodemailer's `debug` option).
import { format } from "node:util";
import type { Logger } from "../log.ts";

type Entry = Record<string, unknown> | undefined;
type Method = (entry: Entry, message?: unknown, ...args: unknown[]) => void;

/** nodemailer already writes "AUTH PLAIN /* secret *\/"; anything else after an AUTH verb is masked
 * here too, in case a mechanism (or a future version) does not. The logger also scrubs the
 * configured password in every form it could travel in (log-secrets.ts). */
export function maskAuth(text: string): string {
  return text.replace(/^(AUTH\s+\S+)\s+(?!\/\* secret \*\/$).+$/i, "$1 /* secret */");
}

export function nodemailerLogger(logger: Logger): Record<"trace" | "debug" | "info" | "warn" | "error" | "fatal", Method> {
  const forward: Method = (entry, message, ...args) => {
    if (logger.level !== "debug") return;
    const text = maskAuth(typeof message === "string" ? format(message, ...args) : format(message, ...args).trim());
    const fields: Record<string, unknown> = {};
    if (typeof entry?.tnx === "string") fields.tnx = entry.tnx;
    if (entry?.cid !== undefined) fields.cid = entry.cid;
    logger.debug(`nodemailer: ${text}`, fields);
  };
  return { trace: forward, debug: forward, info: forward, warn: forward, error: forward, fatal: forward };
}
