// MIME composition is nodemailer's (attachments, alternatives, inline images, encodings), never ours.
// A message compiled by nodemailer (a MimeNode) becomes the bytes and envelope we store; the simple
// message whose bytes composeSimple writes exactly as nodemailer would is the one exception. nodemailer
// itself is loaded only when a message needs it, so `mailer queue --text` never loads it.
import type { NodemailerError, SendMailOptions, Transport } from "nodemailer";
import type Nodemailer from "nodemailer";
import type MailMessage from "nodemailer/lib/mailer/mail-message";
import type MimeNode from "nodemailer/lib/mime-node";
import { fromNodemailerPriority, type Priority } from "./priority.ts";
import { assertNoHeaderInjection, assertValidAddressFields } from "./mail-safety.ts";
import { scheduleFrom, type Schedule, type ScheduleInput } from "./schedule.ts";
import { composeSimple } from "./simple-compose.ts";

/** A compiled message, ready for prepareMessage. */
export interface Captured {
  raw: Uint8Array;
  /** undefined: let prepareMessage take it from the Sender/From header. */
  envelopeFrom?: string;
  /** undefined: nodemailer found none (a raw message), so prepareMessage reads To/Cc/Bcc. */
  envelopeTo?: string[];
  /** From nodemailer's own `priority` field, the weakest source. */
  fallbackPriority?: Priority;
  /** The message's own sendAt / expiresAt / idempotencyKey fields (ours, beside nodemailer's). */
  schedule: Schedule;
}

/** Build a compiled MimeNode (Bcc left out of the text, as nodemailer's SMTP transport does). */
export async function captureMimeNode(node: MimeNode, data: { priority?: unknown } & ScheduleInput): Promise<Captured> {
  const schedule = scheduleFrom(data);
  const envelope = node.getEnvelope();
  const raw = await node.build();
  const to = (envelope.to ?? []).filter(Boolean);
  return {
    raw: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
    envelopeFrom: typeof envelope.from === "string" && envelope.from !== "" ? envelope.from : undefined,
    envelopeTo: to.length > 0 ? to : undefined,
    fallbackPriority: fromNodemailerPriority(data.priority),
    schedule,
  };
}

/** The transport send() of both the queue transport and our own composer: validate, then capture. */
export function captureMail(mail: MailMessage<any>): Promise<Captured> {
  assertNoHeaderInjection(mail.data as Record<string, unknown>);
  assertValidAddressFields(mail.data as Record<string, unknown>);
  return captureMimeNode(mail.message, mail.data);
}

const captureTransport: Transport<Captured> = {
  name: "mailer-capture",
  version: "1",
  send(mail, callback) {
    captureMail(mail).then(
      (captured) => callback(null, captured),
      (error: unknown) => callback(error as NodemailerError),
    );
  },
};

let composer: Promise<ReturnType<typeof Nodemailer.createTransport<Captured>>> | null = null;

/** Compose nodemailer message options exactly as `transporter.sendMail()` would, without sending:
 * the common simple message by composeSimple (the same bytes, several times faster), any other by
 * nodemailer itself. Options with header injection or bad address fields are refused. */
export async function composeMail(mail: SendMailOptions): Promise<Captured> {
  const options = mail as Record<string, unknown>;
  // composeSimple takes only values the two guards pass: printable text with no line break, and
  // addresses that are a dot-atom at a host name (a subset of checkAddress's). Anything else reaches
  // nodemailer, whose transport (captureMail) runs the guards.
  const simple = composeSimple(options);
  if (simple !== null) return { ...simple, fallbackPriority: undefined, schedule: scheduleFrom(options) };
  return composeWithNodemailer(mail);
}

/** Always nodemailer's own composition (the reference composeSimple is tested against). */
export function composeWithNodemailer(mail: SendMailOptions): Promise<Captured> {
  composer ??= import("nodemailer").then(({ default: nodemailer }) => nodemailer.createTransport<Captured>(captureTransport));
  return composer.then((transport) => transport.sendMail(mail));
}
