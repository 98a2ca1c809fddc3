// A real SMTP peer over TCP for tests (smtp-server): it records what it receives and can be told to
// reply 4xx/5xx, drop the connection mid-transaction, or stall, per message or per recipient.
import { SMTPServer, type SMTPServerSession } from "smtp-server";

export interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  /** The Message-ID header value, if any. */
  messageId: string | null;
  /** The Subject header value (not decoded). */
  subject: string | null;
  sessionId: string;
  /** Date.now() at this transaction's MAIL FROM. */
  startedAt: number;
  /** Date.now() when the sink answered the end of DATA (the transaction's end). */
  endedAt: number;
  /** The session was encrypted (implicit TLS or STARTTLS). */
  secure: boolean;
  /** The MAIL FROM parameters (BODY=8BITMIME, SMTPUTF8, SIZE), upper-cased names. */
  mailParams: Record<string, string | true>;
}

/** What the sink does with a message or recipient: accept (undefined), reply with a code, drop,
 * stall, or accept after a delay or once a promise settles (a slow server: the transaction stays
 * open that long). */
export type Reaction =
  | undefined
  | { code: number; message?: string }
  | "drop"
  | "stall"
  | { acceptAfterMs: number }
  | { acceptWhen: Promise<unknown> };

type Delayed = { acceptAfterMs: number } | { acceptWhen: Promise<unknown> };
const isDelayed = (reaction: Reaction): reaction is Delayed =>
  typeof reaction === "object" && ("acceptAfterMs" in reaction || "acceptWhen" in reaction);
const delayOf = (reaction: Delayed): Promise<unknown> =>
  "acceptWhen" in reaction ? reaction.acceptWhen.catch(() => {}) : new Promise((r) => setTimeout(r, reaction.acceptAfterMs));

export interface SinkOptions {
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  auth?: { user: string; pass: string };
  /** Reply to the connection greeting with this code instead of 220. */
  greeting?: { code: number; message?: string };
  /** Offer TLS with smtp-server's built-in self-signed certificate: from the start, or by STARTTLS. */
  tls?: "implicit" | "starttls";
  /** Leave these out of the EHLO answer (a server without them). */
  hide?: Array<"8BITMIME" | "SMTPUTF8">;
}

export interface Sink {
  host: string;
  port: number;
  received: Received[];
  /** Decides each message at the end of DATA. */
  onMessage: (message: Received) => Reaction;
  /** Decides each RCPT TO. */
  onRecipient: (address: string) => Reaction;
  /** Sees the first chunk of each DATA stream; true drops the connection there, mid-DATA. */
  dropMidData: (firstChunk: Buffer) => boolean;
  connections: number;
  /** AUTH commands seen (whatever their outcome): a client that must not log in sends none. */
  authAttempts: number;
  /** Every byte clients sent on plain connections, as latin1 text (commands exactly as written). */
  wire: string;
  /** Closes every open connection from the server's side, as a server does to idle clients. */
  dropConnections(): void;
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** How many times each Message-ID reached the sink. */
export function deliveries(received: Received[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of received) counts.set(m.messageId ?? "", (counts.get(m.messageId ?? "") ?? 0) + 1);
  return counts;
}

function header(raw: Buffer, name: string): string | null {
  const head = raw.toString("latin1").split(/\r?\n\r?\n/)[0] ?? "";
  const unfolded = head.replace(/\r?\n[ \t]+/g, " ");
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(unfolded);
  return match ? match[1]!.trim() : null;
}

export async function startSink(options: SinkOptions = {}): Promise<Sink> {
  const waiters: Array<() => void> = [];
  const startedAt = new Map<string, number>();
  const sink: Sink = {
    host: "127.0.0.1",
    port: 0,
    received: [],
    onMessage: () => undefined,
    onRecipient: () => undefined,
    dropMidData: () => false,
    connections: 0,
    authAttempts: 0,
    wire: "",
    dropConnections() {
      for (const connection of (server as unknown as { connections: Set<any> }).connections ?? []) connection._socket?.destroy();
    },
    waitFor(count, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (sink.received.length >= count) {
            resolve(sink.received);
            return true;
          }
          return false;
        };
        if (check()) return;
        const timer = setTimeout(
          () => reject(new Error(`sink: waited for ${count} messages, got ${sink.received.length}`)),
          timeoutMs,
        );
        // Each arrival wakes every waiter once; one still short of its count waits for the next.
        const wake = () => {
          if (check()) clearTimeout(timer);
          else waiters.push(wake);
        };
        waiters.push(wake);
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const connectionOf = (session: SMTPServerSession) =>
    [...((server as unknown as { connections: Set<any> }).connections ?? [])].find((c) => c.session?.id === session.id);

  const react = (reaction: Reaction, session: SMTPServerSession, callback: (err?: Error | null) => void) => {
    if (reaction === undefined) return callback();
    if (isDelayed(reaction)) return void delayOf(reaction).then(() => callback());
    if (reaction === "stall") return; // never answer: the client's timeout must fire
    if (reaction === "drop") {
      connectionOf(session)?._socket?.destroy();
      return;
    }
    const error = new Error(reaction.message ?? `test reply ${reaction.code}`) as Error & { responseCode: number };
    error.responseCode = reaction.code;
    callback(error);
  };

  const noStartTls = options.tls === "starttls" ? [] : ["STARTTLS"];
  const server = new SMTPServer({
    secure: options.tls === "implicit",
    hide8BITMIME: options.hide?.includes("8BITMIME"),
    hideSMTPUTF8: options.hide?.includes("SMTPUTF8"),
    disabledCommands: options.auth ? noStartTls : [...noStartTls, "AUTH"],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    logger: false,
    size: 200 * 1024 * 1024,
    onConnect(session, callback) {
      sink.connections++;
      if (options.greeting) {
        const error = new Error(options.greeting.message ?? "try later") as Error & { responseCode: number };
        error.responseCode = options.greeting.code;
        return callback(error);
      }
      callback();
    },
    onAuth(auth, _session, callback) {
      sink.authAttempts++;
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        return callback(null, { user: auth.username });
      }
      callback(new Error("Invalid username or password"));
    },
    onMailFrom(_address, session, callback) {
      startedAt.set(session.id, Date.now());
      callback();
    },
    onRcptTo(address, session, callback) {
      react(sink.onRecipient(address.address), session, callback);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      let dropped = false;
      stream.once("data", (chunk: Buffer) => {
        if (!sink.dropMidData(chunk)) return;
        dropped = true;
        connectionOf(session)?._socket?.destroy();
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        if (dropped) return;
        const raw = Buffer.concat(chunks);
        const message: Received = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          messageId: header(raw, "Message-ID"),
          subject: header(raw, "Subject"),
          sessionId: session.id,
          startedAt: startedAt.get(session.id) ?? Date.now(),
          endedAt: Date.now(),
          secure: session.secure === true,
          mailParams: (session.envelope.mailFrom && (session.envelope.mailFrom.args as Record<string, string | true>)) || {},
        };
        const reaction = sink.onMessage(message);
        const accepted = () => {
          message.endedAt = Date.now();
          sink.received.push(message);
          for (const wake of waiters.splice(0)) wake();
        };
        if (reaction === undefined) accepted();
        if (isDelayed(reaction)) {
          return void delayOf(reaction).then(() => {
            accepted();
            callback();
          });
        }
        react(reaction, session, callback);
      });
    },
  });
  server.on("error", () => {});
  // What clients wrote, as sent (smtp-server shows addresses decoded: punycode as Unicode).
  server.server.on("connection", (socket: import("node:net").Socket) => socket.on("data", (d: Buffer) => (sink.wire += d.toString("latin1"))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  sink.port = (server.server.address() as { port: number }).port;
  return sink;
}
