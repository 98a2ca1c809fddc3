// What the engine needs from a backend: hand over one message, learn which recipients took it.
// Modelled on nodemailer's own idea of a transport ("anything with send()"), minus its callbacks.

export interface Envelope {
  /** MAIL FROM; "" is the null sender. */
  from: string;
  /** RCPT TO, bare addresses. */
  to: string[];
}

export interface OutgoingMessage {
  envelope: Envelope;
  /** The complete RFC 5322 text, exactly as stored (CRLF line ends). */
  raw: Uint8Array;
  /** The queue id, when there is one; the file backend uses it in the file name. */
  id?: number;
  messageId?: string;
  /** The text may go out only once this resolves true; false (or a rejection) means: abandon the
   * transaction before the end of its text, so that nothing is delivered, and fail the send. A
   * transport with `holdsText` starts the transaction meanwhile; for any other, the send starts
   * once it has resolved (TransportHolder). It may be on demand (engine/on-demand.ts): the first
   * then() is what starts its work, so a transport awaits it when the text is due, not before. */
  hold?: PromiseLike<boolean>;
}

export interface SendResult {
  /** Recipients the backend accepted: these are delivered and must never be sent again. */
  accepted: string[];
  /** Recipients it refused while accepting others (partial rejection). */
  rejected: string[];
  /** Why each rejected recipient was refused, when the backend says. */
  rejectedReasons?: string[];
  /** The backend's final reply, for logs. */
  response: string;
}

export interface Transport {
  /** The backend type, or the module's name, for the error handler and logs. */
  readonly name: string;
  /** Resolves once the backend has taken the message; rejects when it did not (nothing delivered). */
  send(message: OutgoingMessage): Promise<SendResult>;
  /** Releases connections; in-flight sends finish first. */
  close(): Promise<void>;
  /** Runs one connection's opening (connect, greeting, EHLO, AUTH) ahead of the first send, so that a
   * rate-limited send goes out when its token is taken, not a cold start later. Never throws. */
  warm?(): Promise<void>;
  /** Honours OutgoingMessage.hold itself (while the envelope is being sent). */
  readonly holdsText?: boolean;
}

/** What a send fails with when its hold said no before it started. */
export class HeldBack extends Error {
  constructor() {
    super("not sent: held back before the transaction started");
  }
}

/** For a send that cannot hold its text mid-transaction: waits for the hold, then the message
 * without it; HeldBack when the hold said no. */
export async function afterHold(message: OutgoingMessage): Promise<OutgoingMessage> {
  if (!message.hold) return message;
  if (!(await message.hold)) throw new HeldBack();
  return { ...message, hold: undefined };
}
