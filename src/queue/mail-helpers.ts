// django-mailer's module API (send_mail, send_mass_mail, send_html_mail, mail_admins, mail_managers):
// one call queues the mail and returns its queue ids. Each helper takes `queue` in its options; without
// one it uses a queue opened on first use from the usual config lookup ($MAILER_CONFIG, ./mailer.toml,
// /etc/mailer/mailer.toml), as Django's helpers use the project's settings. closeDefaultQueue()
// releases that one (a script calls it before it ends).
import type { SendMailOptions } from "nodemailer";
import { openQueue } from "./open.ts";
import type { PriorityName, Priority } from "./priority.ts";
import type { Queue } from "./queue.ts";

export interface HelperOptions {
  /** The queue to use (default: one opened from the config on first use). */
  queue?: Queue;
  priority?: Priority | PriorityName;
  html?: string;
  cc?: string[];
  bcc?: string[];
  replyTo?: string;
  headers?: Record<string, string>;
  attachments?: SendMailOptions["attachments"];
}

/** The queue id of each message, or null for one not queued because every recipient is on the
 * don't-send list (Django's helpers return how many were sent; ids say which). */
export type QueueIds = Array<number | null>;

let shared: Promise<Queue> | null = null;

const queueFor = (options: HelperOptions): Promise<Queue> => {
  if (options.queue) return Promise.resolve(options.queue);
  shared ??= openQueue().catch((error) => {
    shared = null;
    throw error;
  });
  return shared;
};

/** Closes the queue the helpers opened for themselves, if any. */
export async function closeDefaultQueue(): Promise<void> {
  const opened = shared;
  shared = null;
  if (opened) await (await opened).close();
}

const compose = (subject: string, text: string, from: string | undefined, to: string[], options: HelperOptions): SendMailOptions => ({
  subject,
  text,
  html: options.html,
  from,
  to,
  cc: options.cc,
  bcc: options.bcc,
  replyTo: options.replyTo,
  headers: options.headers,
  attachments: options.attachments,
});

/** send_mail(subject, message, from_email, recipient_list, priority=…). A missing `from` is [queue]
 * default_from, else the login at the mail domain. */
export async function sendMail(subject: string, text: string, from: string | undefined, to: string[], options: HelperOptions = {}): Promise<QueueIds> {
  const queue = await queueFor(options);
  const outcome = await queue.enqueue(compose(subject, text, from ?? queue.defaultSender, to, options), { priority: options.priority });
  return [outcome.id];
}

/** send_html_mail(subject, message, message_html, from_email, recipient_list, …): text and HTML alternatives. */
export function sendHtmlMail(subject: string, text: string, html: string, from: string | undefined, to: string[], options: HelperOptions = {}): Promise<QueueIds> {
  return sendMail(subject, text, from, to, { ...options, html });
}

/** send_mass_mail(datatuple): every message validated first, then all queued in one transaction. */
export async function sendMassMail(
  messages: Array<[subject: string, text: string, from: string | undefined, to: string[]]>,
  options: HelperOptions = {},
): Promise<QueueIds> {
  const queue = await queueFor(options);
  const mails = messages.map(([subject, text, from, to]) => compose(subject, text, from ?? queue.defaultSender, to, options));
  const outcomes = await queue.enqueueMany(mails, { priority: options.priority, oneTransaction: true });
  return outcomes.map((o) => o.id);
}

/** mail_admins(subject, message): to [queue] admins; nothing (no ids) when the list is empty, as in Django. */
export function mailAdmins(subject: string, text: string, options: HelperOptions = {}): Promise<QueueIds> {
  return mailList("admins", subject, text, options);
}

/** mail_managers(subject, message): to [queue] managers. */
export function mailManagers(subject: string, text: string, options: HelperOptions = {}): Promise<QueueIds> {
  return mailList("managers", subject, text, options);
}

async function mailList(list: "admins" | "managers", subject: string, text: string, options: HelperOptions): Promise<QueueIds> {
  const queue = await queueFor(options);
  const to = queue.config.queue[list];
  if (to.length === 0) return [];
  return sendMail(subject, text, undefined, to, { ...options, queue });
}
