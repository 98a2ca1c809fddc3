// A nodemailer transport that queues instead of sending: `createTransport(queueTransport(...))` and
// the application's existing sendMail() calls are the whole switch (django-mailer's DbBackend).
import type { NodemailerError, SentMessageInfo, Transport } from "nodemailer";
import type { OpenQueueOptions } from "./open.ts";
import type { Queue } from "./queue.ts";
import { parsePriority, type Priority, type PriorityName } from "./priority.ts";
import { VERSION } from "../version.ts";

export interface QueuedMessageInfo extends SentMessageInfo {
  /** The mailer_message id. */
  queueId: number;
  /** The recipients kept (the envelope that will be sent). */
  accepted: string[];
  /** Recipients dropped because they are on the don't-send list. */
  rejected: string[];
  /** Its idempotencyKey was queued already: nothing was queued, queueId is the first message's. */
  duplicate: boolean;
}

export interface QueueTransportOptions extends OpenQueueOptions {
  /** An open queue to use; otherwise one is opened from these options on the first message. */
  queue?: Queue;
  /** Priority for every message sent through this transport (wins over the header). */
  priority?: Priority | PriorityName;
}

export interface QueueTransport extends Transport<QueuedMessageInfo> {
  /** Close the queue if this transport opened it (transporter.close() calls this). */
  close(): Promise<void>;
}

const isQueue = (value: unknown): value is Queue =>
  typeof value === "object" && value !== null && typeof (value as Queue).enqueuePrepared === "function";

export function queueTransport(target: Queue | QueueTransportOptions = {}): QueueTransport {
  const options: QueueTransportOptions = isQueue(target) ? { queue: target } : target;
  const priority = options.priority === undefined ? undefined : parsePriority(options.priority, "priority");
  let opened: Promise<Queue> | null = null;
  const queue = (): Promise<Queue> => {
    if (options.queue) return Promise.resolve(options.queue);
    opened ??= import("./open.ts").then(({ openQueue }) => openQueue(options)).catch((error) => {
      opened = null; // let the next message try again (the database may come back)
      throw error;
    });
    return opened;
  };

  return {
    name: "mailer-queue",
    version: VERSION,
    send(mail, callback) {
      (async () => {
        const { captureMail } = await import("./compose.ts");
        const captured = await captureMail(mail);
        const q = await queue();
        const outcome = await q.enqueueOne(q.prepareCaptured(captured, priority));
        const info: QueuedMessageInfo = {
          envelope: { from: outcome.envelopeFrom, to: outcome.recipients },
          messageId: outcome.messageId,
          queueId: outcome.id,
          accepted: outcome.recipients,
          rejected: outcome.suppressed,
          duplicate: outcome.duplicate === true,
          response: outcome.duplicate ? `250 already queued as ${outcome.id} (same idempotency key)` : `250 queued as ${outcome.id}`,
        };
        return info;
      })().then(
        (info) => callback(null, info),
        (error: unknown) => callback(error as NodemailerError),
      );
    },
    async close() {
      if (!opened) return;
      const q = await opened.catch(() => null);
      opened = null;
      await q?.close();
    },
  };
}
