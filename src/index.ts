// The public library API (the package's main export). See docs/library.md.
//
//   const queue = await openQueue({ url: "postgres://…" });
//   await queue.enqueue({ from, to, subject, text }, { priority: "high" });
//   const transporter = nodemailer.createTransport(queueTransport(queue));   // the whole switch
export { openQueue, resolveQueueConfig, silentLogger, type OpenQueueOptions } from "./queue/open.ts";
export { Queue, SuppressedError, isRawMail, type MailInput, type RawMail, type EnqueueCallOptions } from "./queue/queue.ts";
export {
  sendMail, sendHtmlMail, sendMassMail, mailAdmins, mailManagers, closeDefaultQueue, type HelperOptions, type QueueIds,
} from "./queue/mail-helpers.ts";
export { queueTransport, type QueueTransport, type QueueTransportOptions, type QueuedMessageInfo } from "./queue/transport.ts";
export type { EnqueueOutcome } from "./queue/enqueue.ts";
export { PRIORITY, parsePriority, priorityName, type Priority, type PriorityName } from "./queue/priority.ts";
export { PRIORITY_HEADER, prepareMessage, type PreparedMessage, type PrepareOptions } from "./queue/prepare.ts";
export {
  SEND_AT_HEADER, EXPIRES_AT_HEADER, IDEMPOTENCY_KEY_HEADER, parseWhen, type Schedule, type ScheduleInput, type When,
} from "./queue/schedule.ts";
export { loadConfig } from "./config/load.ts";
export type { Config } from "./config/types.ts";
export { createLogger, type Logger, type LogLevel } from "./log.ts";
export { MailerError, DataError, TooLargeError, TempFailError, ConfigError, UsageError, EXIT } from "./errors.ts";
export { VERSION } from "./version.ts";
