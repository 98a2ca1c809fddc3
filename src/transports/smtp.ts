// SMTP through nodemailer's connection pool. Connections stay open as long as the transport (maxMessages
// = Infinity): recycling them every 100 messages costs about 4x throughput (SPEC §1). The engine
// keeps at most `pool` sends in flight, so nodemailer's own queue stays empty.
import { isAscii } from "node:buffer";
import { domainToASCII } from "node:url";
import { errorText } from "../errors.ts";
import { sleep } from "../runtime.ts";
import { to7bit } from "./seven-bit.ts";
import { asBuffer } from "../bytes.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { fromNodemailer, normaliseResult, type NodemailerInfo } from "./nodemailer-adapter.ts";
import { nodemailerLogger } from "./nodemailer-log.ts";
import { afterHold, type OutgoingMessage, type Transport } from "./types.ts";
import "./smtp-one-write.ts";
import { StoredText } from "./smtp-stored-send.ts";

/** Whether the connection must be encrypted before AUTH and mail (Postfix's smtp_tls_security_level
 * encrypt) or may go in clear when the server offers no STARTTLS (may). With credentials the default
 * is required: a STARTTLS stripped on the way (a downgrade attack, a misconfigured relay) must not
 * make us hand over the password and the mail in clear. */
export function tlsPolicy(backend: Config["backend"]): "opportunistic" | "required" {
  return backend.tls ?? (backend.user !== "" ? "required" : "opportunistic");
}

export async function smtpTransport(config: Config, logger: Logger): Promise<Transport> {
  const nodemailer = await import("nodemailer");
  const b = config.backend;
  const ms = Math.round(b.timeout * 1000);
  const requireTls = !b.secure && tlsPolicy(b) === "required";
  const transporter = nodemailer.createTransport({
    pool: true,
    host: b.host,
    port: b.port,
    secure: b.secure,
    // Sends STARTTLS even when it is not offered, and fails (ETLS) before AUTH or MAIL if it does not work.
    requireTLS: requireTls,
    auth: b.user ? { user: b.user, pass: b.password } : undefined,
    maxConnections: b.pool,
    maxMessages: Infinity,
    connectionTimeout: ms,
    greetingTimeout: ms,
    socketTimeout: ms,
    tls: { rejectUnauthorized: b.tls_verify },
    // Routed into our logger at debug. A reload that changes log.level builds a new transport
    // (commands/live-config.ts), so the new level applies.
    // Below debug nothing is handed over at all: formatting lines nobody reads costs throughput.
    logger: logger.level === "debug" ? (nodemailerLogger(logger) as never) : false,
    debug: logger.level === "debug",
  });
  logger.debug("smtp transport ready", { host: b.host, port: b.port, pool: b.pool, tls: b.secure ? "implicit" : tlsPolicy(b) });
  const composing = fromNodemailer("smtp", transporter as never);
  const pool = (transporter as unknown as { transporter: SmtpPool }).transporter;
  const send = (message: OutgoingMessage) =>
    // The usual case, ASCII addresses and text, has nothing to fit: to the pool in this tick.
    isPlainEnvelope(message) && isAscii(message.raw)
      ? sendStored(pool, message)
      : fitForServer(pool, message).then((fitted) =>
          // sendMail composes from a MIME tree: its text cannot be held mid-transaction.
          isPlainEnvelope(fitted) ? sendStored(pool, fitted) : afterHold(fitted).then((m) => composing.send(m)),
        );
  return {
    ...composing,
    holdsText: true,
    send: requireTls ? (message) => send(message).catch((error) => Promise.reject(explainTlsRefusal(error))) : send,
    warm: () => openConnections(pool, b.pool),
  };
}

/** nodemailer's words for a failed STARTTLS, with what it means here: nothing went out in clear. */
function explainTlsRefusal(error: unknown): unknown {
  const e = error as { code?: unknown; message?: unknown };
  if (e?.code !== "ETLS" || typeof e.message !== "string") return error;
  e.message = `${e.message}: the server did not offer STARTTLS or it failed, and backend.tls = "required" ` +
    "(the default with a user) sends neither AUTH nor mail in clear";
  return error;
}

/** nodemailer's pool below Mail#sendMail (nodemailer is pinned; test/engine/smtp-stored.test.ts checks
 * that what arrives is what sendMail would have sent). */
export interface SmtpPool {
  send(mail: object, callback: (error: Error | null, info?: NodemailerInfo) => void): void;
  /** Internals the warm-up uses (checked before use): the pool's connections, and how it makes one. */
  _connections?: unknown[];
  _createConnection?(): { connect(callback: (error?: Error | null) => void): void };
}

/** Opens the pool's connections now (connect, greeting, EHLO, AUTH), as the pool would on its first
 * sends, and waits for them. A connection that fails is dropped by the pool (the next send makes a new
 * one and defers its message if that fails too), so this never throws. */
function openConnections(pool: SmtpPool, count: number): Promise<void> {
  if (typeof pool._createConnection !== "function" || !Array.isArray(pool._connections)) return Promise.resolve();
  const missing = Math.max(0, count - pool._connections.length);
  return Promise.all(Array.from({ length: missing }, () => new Promise<void>((resolve) => pool._createConnection!().connect(() => resolve())))).then(() => {});
}

/** The message as this server can take it (RFC 6152, RFC 6531), or a clear refusal:
 * - a domain in Unicode, with an ASCII local part, goes as punycode (xn--…), which every server takes;
 * - a non-ASCII local part needs SMTPUTF8: without it the message is refused (EUNSUPPORTED), where
 *   nodemailer would send the UTF-8 bytes anyway, in breach of the protocol;
 * - a text with 8-bit bytes goes with BODY=8BITMIME where 8BITMIME is offered, and is re-encoded to
 *   7 bits (seven-bit.ts) where it is not.
 * The server's EHLO answer is read from a pooled connection only when the message needs it. */
export async function fitForServer(pool: SmtpPool, message: OutgoingMessage): Promise<OutgoingMessage & { eightBit: boolean }> {
  const envelope = { from: asciiDomain(message.envelope.from), to: message.envelope.to.map(asciiDomain) };
  const utf8 = [envelope.from, ...envelope.to].some((a) => NON_ASCII.test(a));
  const eightBit = !isAscii(message.raw);
  if (!utf8 && !eightBit) return { ...message, envelope, eightBit: false };
  const offers = await serverExtensions(pool);
  if (utf8 && !offers.has("SMTPUTF8")) {
    throw unsupported("the server does not offer SMTPUTF8, which an address with a non-ASCII local part needs (RFC 6531)");
  }
  if (!eightBit || offers.has("8BITMIME")) return { ...message, envelope, eightBit };
  try {
    return { ...message, envelope, raw: to7bit(message.raw), eightBit: false };
  } catch (error) {
    throw unsupported(errorText(error));
  }
}

const NON_ASCII = /[^\x00-\x7f]/;

const unsupported = (text: string) => Object.assign(new Error(text), { code: "EUNSUPPORTED", command: "MAIL FROM" });

/** `local@domain` with the domain in punycode when only the domain is non-ASCII. */
function asciiDomain(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0 || !NON_ASCII.test(address)) return address;
  const domain = domainToASCII(address.slice(at + 1));
  return domain === "" ? address : `${address.slice(0, at)}@${domain}`;
}

/** The extensions a pooled connection's EHLO answer named; a connection is opened to ask if none is up. */
async function serverExtensions(pool: SmtpPool): Promise<Set<string>> {
  const read = () => {
    for (const resource of pool._connections ?? []) {
      const r = resource as { _connected?: boolean; connection?: { _supportedExtensions?: unknown } };
      const named = r?.connection?._supportedExtensions;
      if (r?._connected && Array.isArray(named)) return new Set(named.map(String));
    }
    return null;
  };
  const known = read();
  if (known) return known;
  if ((pool._connections?.length ?? 0) === 0) await openConnections(pool, 1);
  // Connections still opening (a cold start with sends in flight): wait for the first to be up.
  for (let waited = 0; waited < 5_000 && (pool._connections?.length ?? 0) > 0; waited += 20) {
    const named = read();
    if (named) return named;
    await sleep(20);
  }
  // None known (the server could not be reached): assume the least, which is always safe to send.
  return read() ?? new Set();
}

/** Bare ASCII addresses, which nodemailer would pass on unchanged: anything else (an IDN domain to
 * punycode, a display name in a hand-written row) goes through sendMail, which normalises it. */
const PLAIN_ADDRESS = /^[!-;=?-~]+$/;
export const isPlainEnvelope = ({ envelope }: OutgoingMessage) =>
  (envelope.from === "" || PLAIN_ADDRESS.test(envelope.from)) && envelope.to.every((a) => PLAIN_ADDRESS.test(a));

/** A stored text straight onto a pooled connection. For raw text, sendMail builds a MIME tree, parses
 * the envelope's addresses again and pipes the text through three streams, all to send the same
 * bytes: a third of the processor time of a pass went there. Here the pool gets the envelope and the
 * bytes, which its connection writes without a stream (smtp-stored-send.ts); errors, retries on a
 * dropped connection and the result are the pool's own. */
export function sendStored(pool: SmtpPool, message: OutgoingMessage & { eightBit?: boolean }): Promise<ReturnType<typeof normaliseResult>> {
  const text = asBuffer(message.raw);
  const messageId = message.messageId ?? "";
  const mail = {
    data: {},
    message: {
      // use8BitMime: BODY=8BITMIME on MAIL FROM (fitForServer set it only where the server offers it).
      getEnvelope: () => ({ from: message.envelope.from, to: [...message.envelope.to], use8BitMime: message.eightBit === true }),
      messageId: () => messageId,
      getHeader: (name: string) => (name.toLowerCase() === "message-id" ? messageId : undefined),
      // Held: MAIL FROM and RCPT TO go out now, the text once the hold says so (or an error ends the
      // transaction before its final dot, and the pool closes that connection).
      createReadStream: () => new StoredText(text, message.hold),
    },
  };
  return new Promise((resolve, reject) =>
    pool.send(mail, (error, info) => (error ? reject(error) : resolve(normaliseResult(message, info)))),
  );
}
