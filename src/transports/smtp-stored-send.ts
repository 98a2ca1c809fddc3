// A stored text sent over one of nodemailer's pooled connections without a stream. For a message
// whose bytes are all at hand, SMTPConnection#send still pipes a Readable through a DataStream into
// the socket: per message that is three stream objects, a pipe set up and torn down, and the
// socket's buffered-write path, about a third of the processor time of a bare pool-4 sender. Here the
// envelope, its replies, errors, pooling and retries stay nodemailer's (SMTPConnection#_setEnvelope and
// the pool's own handling of the result); only the text goes differently: dot-stuffed in one pass
// (dataBytes, the bytes DataStream would write) and handed to the socket in one write with its final
// dot. SMTPConnection#send is wrapped once; any other message, and every message of a connection that
// logs its conversation (debug), takes nodemailer's own path. nodemailer is pinned;
// test/engine/smtp-stored.test.ts checks the bytes that arrive against sendMail's.
import { Readable } from "node:stream";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { HeldBack } from "./types.ts";

/** The text of one message, handed to the pool where a message stream would be. The pool asks
 * `readableDidRead` after a failure: false means not a byte went out, so it may retry the message on
 * another connection (a reused connection the server had closed meanwhile). */
export class StoredText {
  #stream: Readable | null = null;
  #started = false;
  constructor(
    readonly text: Buffer,
    /** The text may go out once this resolves true (OutgoingMessage.hold). */
    readonly hold: PromiseLike<boolean> | undefined,
  ) {}

  get readableDidRead(): boolean {
    return this.#stream ? this.#stream.readableDidRead : this.#started;
  }

  /** The text goes out now (or is held): from here on, a failure must not be retried elsewhere. */
  start(): void {
    this.#started = true;
  }

  /** nodemailer's own path (a connection that logs its conversation): the text as a stream. */
  asStream(): Readable {
    this.#stream ??= Readable.from(this.hold ? heldText(this.hold, this.text) : [this.text]);
    return this.#stream;
  }
}

async function* heldText(hold: PromiseLike<boolean>, text: Buffer): AsyncGenerator<Buffer> {
  if (!(await hold)) throw new HeldBack();
  yield text;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/** What nodemailer's DataStream writes for this text followed by its end: bare CR and bare LF made
 * CRLF, a dot opening a line doubled (also after a bare CR, against SMTP smuggling), and the final
 * dot on a line of its own. A text with CRLF line ends and no line opening with a dot, which is every
 * text the queue stores from its own intake, is copied once with the ending appended. */
export function dataBytes(text: Buffer): Buffer {
  const end = ENDING[text[text.length - 1] ?? -1] ?? CRLF_DOT;
  return Buffer.concat(isPlainData(text) ? [text, end] : [stuffed(text), end]);
}

const CRLF_DOT = Buffer.from("\r\n.\r\n");
const ENDING: Record<number, Buffer> = { [LF]: Buffer.from(".\r\n"), [CR]: Buffer.from("\n.\r\n") };

/** Every LF follows a CR, every CR precedes an LF, and no line opens with a dot. */
function isPlainData(text: Buffer): boolean {
  if (text[0] === DOT) return false;
  let lines = 0;
  for (let at = text.indexOf(LF); at !== -1; at = text.indexOf(LF, at + 1)) {
    if (text[at - 1] !== CR || text[at + 1] === DOT) return false;
    lines++;
  }
  let returns = 0;
  for (let at = text.indexOf(CR); at !== -1; at = text.indexOf(CR, at + 1)) returns++;
  return returns === lines;
}

/** DataStream's transform over the whole text at once: the bytes it inserts, where it inserts them. */
function stuffed(text: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i];
    const prev = i > 0 ? text[i - 1] : undefined;
    let insert: Buffer | null = null;
    if (prev === CR && byte !== LF) insert = byte === DOT ? INSERT_LF_DOT : INSERT_LF;
    else if (byte === LF && prev !== CR) insert = INSERT_CR;
    else if (byte === DOT && (prev === LF || prev === undefined)) insert = INSERT_DOT;
    if (insert) {
      parts.push(text.subarray(from, i), insert);
      from = i;
    }
  }
  parts.push(text.subarray(from));
  return Buffer.concat(parts);
}

const INSERT_LF = Buffer.from("\n");
const INSERT_LF_DOT = Buffer.from("\n.");
const INSERT_CR = Buffer.from("\r");
const INSERT_DOT = Buffer.from(".");

/** The parts of SMTPConnection this relies on (nodemailer 10.6, pinned). */
interface Connection {
  options: { debug?: boolean; transactionLog?: boolean; lmtp?: boolean };
  _socket: { write(bytes: Buffer): boolean };
  _pendingSend: unknown;
  _responseActions: ((reply: string) => void)[];
  _isDestroyedMessage(action: string): string | false;
  _formatError(message: unknown, code: string, response: unknown, command: string): Error;
  _setEnvelope(envelope: object, callback: (error: Error | null, info?: Record<string, unknown>) => void): void;
  _actionSMTPStream(reply: string, callback: (error: Error | null, reply?: string) => void): void;
}

type Send = (this: Connection, envelope: object, message: unknown, done: (error: Error | null, info?: object) => void) => void;

const proto = SMTPConnection.prototype as unknown as { send: Send & { storedText?: true } };
const original = proto.send;
if (typeof original === "function" && !original.storedText) {
  proto.send = Object.assign(function (this: Connection, envelope: object, message: unknown, done: Parameters<Send>[2]) {
    if (!(message instanceof StoredText)) return original.call(this, envelope, message, done);
    if (this.options.debug || this.options.transactionLog || this.options.lmtp) return original.call(this, envelope, message.asStream(), done);
    sendText(this, envelope, message, done);
  }, { storedText: true as const });
}

/** SMTPConnection#send's contract (one callback, the pending send known to close()) with the text
 * written at once instead of piped. */
function sendText(connection: Connection, envelope: object, message: StoredText, done: Parameters<Send>[2]): void {
  let returned = false;
  const callback = (error: Error | null, info?: object) => {
    if (returned) return;
    returned = true;
    if ((connection._pendingSend as { callback?: unknown } | null)?.callback === callback) connection._pendingSend = false;
    done(error, info);
  };
  const destroyed = connection._isDestroyedMessage("send message");
  if (destroyed) return callback(connection._formatError(destroyed, "ECONNECTION", false, "API"));
  // No stream: close() has nothing to detach; _onError completes this send with its error.
  connection._pendingSend = { callback, stream: false };
  connection._setEnvelope(envelope, (error, info) => {
    if (error) return callback(error);
    connection._responseActions.push((reply) =>
      connection._actionSMTPStream(reply, (failed, response) => (failed ? callback(failed) : callback(null, { ...info, response }))),
    );
    message.start();
    if (!message.hold) return void connection._socket.write(dataBytes(message.text));
    // Held: DATA is answered, the text waits. A no ends the transaction the only way SMTP allows
    // before the final dot: the pool closes this connection on the error, so nothing is delivered.
    // A connection that failed meanwhile has already answered this send.
    const refuse = (reason: unknown) => callback(connection._formatError(reason, "ESTREAM", false, "API"));
    message.hold.then(
      (go) => (returned ? undefined : go ? connection._socket.write(dataBytes(message.text)) : refuse(new HeldBack())),
      refuse,
    );
  });
}
