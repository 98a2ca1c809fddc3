// A nodemailer transporter (anything with sendMail) seen through our Transport interface.
import { asBuffer } from "../bytes.ts";
import type { OutgoingMessage, SendResult, Transport } from "./types.ts";

/** The part of a nodemailer Mail object we use. */
export interface NodemailerLike {
  sendMail(options: Record<string, unknown>): Promise<unknown>;
  close?(): void;
}

type Address = string | { address?: string };

/** What nodemailer reports for a message it sent. */
export interface NodemailerInfo {
  accepted?: Address[];
  rejected?: Address[];
  rejectedErrors?: Error[];
  response?: unknown;
}

const addressOf = (a: Address) => (typeof a === "string" ? a : (a?.address ?? ""));

export function fromNodemailer(name: string, transporter: NodemailerLike): Transport {
  return {
    name,
    async send(message: OutgoingMessage): Promise<SendResult> {
      const info = (await transporter.sendMail({
        envelope: { from: message.envelope.from, to: message.envelope.to },
        // Handed over as is: nodemailer must not re-encode, re-wrap or add headers to stored text.
        raw: asBuffer(message.raw),
        // The text's own Message-ID (nodemailer adds no header to raw text): it then reports that one
        // instead of making up another per message, which costs random bytes and shows in its logs.
        ...(message.messageId ? { messageId: message.messageId } : {}),
      })) as NodemailerInfo | undefined;
      return normaliseResult(message, info);
    },
    async close() {
      transporter.close?.();
    },
  };
}

/** Transports that do not report recipients (sendmail, stream, many plugins) delivered to all of them. */
export function normaliseResult(
  message: OutgoingMessage,
  info: NodemailerInfo | undefined | null,
): SendResult {
  const rejected = (info?.rejected ?? []).map(addressOf).filter(Boolean);
  const accepted = info?.accepted
    ? info.accepted.map(addressOf).filter(Boolean)
    : message.envelope.to.filter((to) => !rejected.includes(to));
  const result: SendResult = { accepted, rejected, response: info?.response === undefined ? "" : String(info.response) };
  if (info?.rejectedErrors?.length) result.rejectedReasons = info.rejectedErrors.map((e) => e.message);
  return result;
}
