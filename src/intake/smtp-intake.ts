// The SMTP intake (smtp-server): every accepted message is queued with its envelope, so any
// framework's SMTP client becomes a queue client. The same server speaks on a TCP port (`mailer smtpd`)
// or on standard input and output (`sendmail -bs`, Symfony's and Laravel's default). Replies follow
// RFC 5321/3463: 5xx only for what the client got wrong; anything on our side (database down, schema
// missing) is 451 so the client retries.
import { timingSafeEqual } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import { DataError, errorText } from "../errors.ts";
import { collectGarbage } from "../runtime.ts";
import type { Logger } from "../log.ts";
import { checkAddress } from "../queue/address.ts";
import { SuppressedError } from "../queue/queue.ts";
import { allowList, type ListenAddress } from "./listen.ts";
import { StdioSocket } from "./stdio-socket.ts";
import type { SubmitTarget } from "./submit-target.ts";
import type { Submitter } from "./submission.ts";
import type { TlsMaterial } from "./smtpd-tls.ts";
import type { SmtpdGuard } from "./smtpd-guard.ts";
import { greetPause } from "./smtp-greeting.ts";

export interface IntakeOptions {
  target: SubmitTarget;
  /** The local user on the other end (`sendmail -bs`); null for network clients. */
  submitter?: Submitter | null;
  logger: Logger;
  /** Require AUTH PLAIN/LOGIN with these credentials (smtpd.user / smtpd.password). */
  auth?: { user: string; password: string };
  /** Client IPs or CIDR ranges allowed to connect (smtpd.allow_from); empty = anyone who can reach us. */
  allowFrom: string[];
  /** Greeting host name. */
  name?: string;
  /** A certificate: STARTTLS is offered, or (implicit) every connection starts with TLS. */
  tls?: TlsMaterial & { implicit: boolean };
  /** AUTH is offered before TLS (loopback listens, `sendmail -bs`); otherwise only once the session
   * is encrypted, so a password never crosses a network in clear. Default true. */
  authBeforeTls?: boolean;
  /** Connections at once (smtpd.max_clients); more get 421. */
  maxClients?: number;
  /** A connection quiet this long is closed with 421 (smtpd.idle_timeout). */
  idleTimeoutMs?: number;
  /** Per-client limits and the memory budget (smtpd-guard.ts). */
  guard?: SmtpdGuard;
  /** Wait this long before the 220 greeting, refusing clients that talk first (smtpd.greet_pause);
   * default 0: the greeting at once. */
  greetPauseMs?: number;
}

export interface Intake {
  listen(address: ListenAddress): Promise<ListenAddress>;
  /** One SMTP session over standard input and output (`sendmail -bs`); resolves when it has ended and
   * every message it accepted is queued. */
  serveStdio(input: Readable, output: Writable): Promise<void>;
  /** Stop accepting, let messages in flight finish (up to graceMs), then close idle sessions with 421. */
  close(graceMs?: number): Promise<void>;
  /** A renewed certificate, for the connections from now on. */
  updateTls(material: TlsMaterial): void;
  /** Messages whose DATA has begun and which are not answered yet. */
  underway(): number;
}

/** rejectOversized: smtp-server replies 552 itself once the stream ends over `size`. */
const OVERSIZED = Symbol("oversized");
/** A message this large is followed by a garbage collection (its copies are megabytes outside the
 * JS heap): what keeps smtpd.memory_limit's ceiling true. */
const LARGE_MESSAGE = 4 * 1024 * 1024;
/** The memory budget was spent while the message arrived: 452, the client tries again later. */
const OVER_BUDGET = Symbol("over budget");

type ReplyError = Error & { responseCode: number };
const reply = (code: number, message: string): ReplyError => Object.assign(new Error(message), { responseCode: code });

const sameSecret = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Every chunk of a message's data stream, then its end. Listeners, not `for await`: an async
 * iterator costs a promise and a turn of the event loop per chunk, and a typical message is one. */
function eachChunk(stream: Readable, onChunk: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on("data", onChunk);
    stream.once("end", resolve);
    stream.once("error", reject);
  });
}

/** What a failure while queueing tells the client. */
function failureReply(error: unknown, logger: Logger, session: SMTPServerSession): ReplyError {
  if (error instanceof SuppressedError) return reply(550, `5.7.1 ${error.message}`);
  if (error instanceof DataError) return reply(554, `5.6.0 ${error.message}`);
  logger.error("could not queue a message; told the client to retry", { session: session.id, error: errorText(error) });
  return reply(451, "4.3.0 queue unavailable, try again later");
}

export function createIntake(options: IntakeOptions): Intake {
  const { target, logger } = options;
  const allowed = allowList(options.allowFrom);
  const inFlight = new Set<Promise<unknown>>();
  /** Commands whose answer is still being worked out (RCPT's list lookup, DATA). */
  let busy = 0;
  let closing = false;

  const tls = options.tls;
  const disabledCommands = [
    // Without a certificate there is no STARTTLS (smtp-server would offer its built-in, public one).
    ...(tls === undefined || tls.implicit ? ["STARTTLS"] : []),
    ...(options.auth ? [] : ["AUTH"]),
  ];
  const authBeforeTls = options.authBeforeTls ?? true;
  const guard = options.guard;
  /** Sessions counted by the guard (so that only those are uncounted when they close). */
  const counted = new Set<string>();
  const server = new SMTPServer({
    ...greetPause(options.greetPauseMs ?? 0),
    maxClients: options.maxClients,
    socketTimeout: options.idleTimeoutMs,
    name: options.name,
    banner: "mailer queue intake",
    logger: false,
    secure: tls?.implicit ?? false,
    ...(tls ? { key: tls.key, cert: tls.cert } : {}),
    disabledCommands,
    authMethods: ["PLAIN", "LOGIN"],
    authOptional: !options.auth,
    allowInsecureAuth: options.authBeforeTls ?? true,
    size: target.maxSize,
    rejectOversized: true,
    closeTimeout: 1000,
    // A reverse DNS lookup per connection only slows a local intake down.
    disableReverseLookup: true,
    onConnect(session, callback) {
      if (closing) return callback(reply(421, "4.3.2 shutting down, try again later"));
      // Not even advertised before TLS: a client that sees AUTH may send its password in the very
      // command (AUTH PLAIN <credentials>) before it learns that TLS was required.
      if (!authBeforeTls && !session.secure) session.disabledCommands = [...disabledCommands, "AUTH"];
      if (allowed && !allowed(session.remoteAddress)) {
        logger.warn("refused a client not in smtpd.allow_from", { remote: session.remoteAddress });
        return callback(reply(554, `5.7.1 ${session.remoteAddress} may not submit here`));
      }
      if (guard) {
        if (!guard.connect(session.remoteAddress)) {
          logger.warn("refused a connection: its address has smtpd.max_clients_per_ip open already", { remote: session.remoteAddress });
          return callback(reply(421, "4.7.0 too many connections from your address, try again later"));
        }
        counted.add(session.id);
      }
      callback();
    },
    onClose(session) {
      if (counted.delete(session.id)) guard!.disconnect(session.remoteAddress);
    },
    onSecure(_socket, session, callback) {
      session.disabledCommands = disabledCommands;
      callback();
    },
    onAuth(auth, _session, callback) {
      const ok = options.auth && auth.username !== undefined && typeof auth.password === "string" &&
        sameSecret(auth.username, options.auth.user) && sameSecret(auth.password, options.auth.password);
      if (!ok) return callback(reply(535, "5.7.8 authentication failed"));
      callback(null, { user: auth.username });
    },
    onMailFrom(address, session, callback) {
      if (closing) return callback(reply(421, "4.3.2 shutting down, try again later"));
      if (guard && !guard.takeMessage(session.remoteAddress)) {
        return callback(reply(450, "4.7.1 too many messages from your address (smtpd.client_rate), try again later"));
      }
      try {
        if (address.address !== "") checkAddress(target.routing.qualify(address.address), "MAIL FROM");
      } catch (error) {
        return callback(reply(553, `5.1.7 ${errorText(error)}`));
      }
      callback();
    },
    onRcptTo(address, session, callback) {
      let routed: string[];
      try {
        // A bare local name (RCPT TO:<root>) is routed as on every path: aliases, then default_domain.
        routed = target.routing.recipients(address.address);
      } catch (error) {
        return callback(reply(553, `5.1.3 ${errorText(error).replace(/^recipient: /, "RCPT TO: ")}`));
      }
      // Tell the client now, per recipient, rather than accept and silently drop.
      const lookup = target.suppressedAmong(routed);
      if (!lookup) return callback();
      busy++;
      void lookup.finally(() => busy--);
      lookup.then(
        (found) => callback(found.size > 0 && found.size === routed.length ? reply(550, `5.7.1 <${address.address}> is on the don't-send list`) : undefined),
        (error) => callback(failureReply(error, logger, session)),
      );
    },
    onData(stream, session, callback) {
      if (closing) {
        // A transaction that reached DATA after shutdown began: refuse it whole, the client retries.
        stream.resume();
        stream.once("end", () => callback(reply(421, "4.3.2 shutting down, try again later")));
        return;
      }
      busy++;
      const work = receive(stream, session).finally(() => busy--).then(
        ({ id, duplicate }) => callback(null, duplicate ? `2.0.0 OK: already queued as ${id} (same idempotency key)` : `2.0.0 OK: queued as ${id}`),
        (error) =>
          callback(
            error === OVERSIZED ? null
            : error === OVER_BUDGET ? reply(452, "4.3.1 too much mail arriving at once, try again later")
            : failureReply(error, logger, session),
          ),
      );
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    },
  });
  server.on("error", (error) => logger.error("smtpd error", { error: errorText(error) }));

  /** Resolves with the queue id (or spool file); rejects with OVERSIZED when smtp-server itself answers 552. */
  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<{ id: string; duplicate: boolean }> {
    let chunks: Buffer[] = [];
    let held = 0;
    let read = 0;
    let overBudget = false;
    try {
      await eachChunk(stream, (chunk) => {
        read += chunk.length;
        if (stream.sizeExceeded || overBudget) return; // read to the end, keep nothing
        if (guard && !guard.hold(chunk.length)) {
          // This one gives way (and its bytes back at once), so the others can finish.
          overBudget = true;
          chunks = [];
          guard.release(held);
          held = 0;
          return;
        }
        held += chunk.length;
        chunks.push(chunk);
      });
      if (stream.sizeExceeded) throw OVERSIZED;
      if (overBudget) {
        logger.warn("a message arrived while smtpd.memory_limit was spent; told the client to retry", { session: session.id });
        throw OVER_BUDGET;
      }
      const raw = Buffer.concat(chunks);
      chunks = []; // the pieces are garbage now: hold the message once, not twice
      return await submit(raw, session);
    } finally {
      guard?.release(held);
      chunks = [];
      if (guard && read >= LARGE_MESSAGE) collectGarbage();
    }
  }

  async function submit(raw: Buffer, session: SMTPServerSession): Promise<{ id: string; duplicate: boolean }> {
    const user = session.user === undefined ? undefined : String(session.user);
    const queued = await target.submit({
      sender: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
      recipients: session.envelope.rcptTo.map((r) => r.address),
      extractRecipients: false,
      via: {
        protocol: user === undefined ? (session.transmissionType === "SMTP" ? "SMTP" : "ESMTP") : "ESMTPA",
        helo: session.hostNameAppearsAs || "",
        remoteAddress: options.submitter ? undefined : session.remoteAddress,
        authUser: user,
      },
      submitter: options.submitter ?? null,
      data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
    });
    if (!queued.duplicate) logger.info("queued", { id: queued.id, recipients: session.envelope.rcptTo.length, session: session.id });
    return queued;
  }

  return {
    listen(address) {
      return new Promise((resolve, reject) => {
        server.server.once("error", reject);
        server.listen(address.port, address.host, () => {
          server.server.off("error", reject);
          const bound = server.server.address();
          resolve({ host: address.host, port: typeof bound === "object" && bound ? bound.port : address.port });
        });
      });
    },
    async serveStdio(input, output) {
      const stream = new StdioSocket(input, output, () => busy === 0);
      await new Promise<void>((resolve) => {
        stream.once("close", () => resolve());
        server.connect(stream as never, { remoteAddress: "127.0.0.1", localAddress: "127.0.0.1" });
      });
      await Promise.allSettled([...inFlight]);
    },
    updateTls(material) {
      server.updateSecureContext({ key: material.key, cert: material.cert });
    },
    underway: () => inFlight.size,
    async close(graceMs = 30_000) {
      // New sessions and transactions get 421 from here on; messages already in DATA are finished
      // and answered first, and only then are the remaining (idle) sessions closed with 421.
      closing = true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
