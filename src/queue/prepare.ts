// Every enqueue path ends here: a complete RFC 5322 message plus its envelope becomes the row we store.
import { DataError, TooLargeError } from "../errors.ts";
import { parseAddressList, checkAddress, namesLocalName, parseMailboxes, isLocalName, uniqueAddresses } from "./address.ts";
import {
  findFields,
  fieldValue,
  firstValue,
  hasField,
  joinMessage,
  mailbox,
  makeField,
  splitMessage,
  withoutFields,
  type HeaderField,
} from "./headers.ts";
import type { Routing } from "./local-routing.ts";
import { newMessageId } from "./message-id.ts";
import { PRIORITY, parsePriority, type Priority } from "./priority.ts";
import {
  EXPIRES_AT_HEADER,
  HEADER_NAMES,
  IDEMPOTENCY_KEY_HEADER,
  SEND_AT_HEADER,
  checkSchedule,
  scheduleFrom,
  type Schedule,
} from "./schedule.ts";

/** Header that sets the priority on any path; removed before the text is stored. */
export const PRIORITY_HEADER = "X-Mailer-Priority";

export interface PreparedMessage {
  data: Uint8Array;
  messageId: string;
  subject: string;
  envelopeFrom: string;
  envelopeTo: string[];
  priority: Priority;
  /** Send-at, expires-at and idempotency key, from the caller or the X-Mailer-* headers. */
  schedule: Schedule;
}

export interface PrepareOptions {
  /** MAIL FROM; default: the Sender or From header's address, else `defaultSender` ("" is the null sender). */
  envelopeFrom?: string;
  /** RCPT TO given by the caller (sendmail arguments, SMTP envelope, API). */
  envelopeTo?: string[];
  /** Add To/Cc/Bcc addresses to the envelope (sendmail -t; the default when no envelope is given). */
  recipientsFromHeaders?: boolean;
  /** A priority given by the caller wins over the header. */
  priority?: Priority;
  /** Given by the caller: each wins over its X-Mailer-* header. */
  schedule?: Schedule;
  /** The clock relative delays ("+10m") and expiry are judged by. */
  now?: Date;
  /** Used when neither the caller nor the X-Mailer-Priority header gives one (nodemailer's `priority`). */
  fallbackPriority?: Priority;
  /** Sender when the message names none (sendmail: login@host, as Postfix does). */
  defaultSender?: string;
  /** Display name for a From header we add (sendmail -F). */
  fromName?: string;
  /** Local names: bare names qualified with default_domain, local recipients through the aliases file.
   * Without it every address must already be user@domain. */
  routing?: Routing;
  /** A Received: field to put on top (sendmail, smtpd), once the message itself has passed. */
  trace?: string;
  /** Header fields to add in front of the message's own (`mailer queue --header` on a piped message). */
  addHeaders?: Array<[name: string, value: string]>;
  maxSize?: number;
}

function checkSize(bytes: number, maxSize: number): void {
  if (bytes > maxSize) throw new TooLargeError(`message is ${bytes} bytes, over the limit of ${maxSize} bytes (queue.max_size)`);
}

/** `data` is `raw` itself (not a copy) when the text needed no change. */
export function prepareMessage(raw: Uint8Array, options: PrepareOptions = {}): PreparedMessage {
  const maxSize = options.maxSize ?? Infinity;
  checkSize(raw.byteLength, maxSize);
  if (raw.byteLength === 0) throw new DataError("message is empty");
  if (raw.includes(0)) throw new DataError("message contains NUL bytes, which RFC 5322 forbids");
  const split = splitMessage(raw);
  const added = options.addHeaders ?? [];
  let fields: HeaderField[] = added.length > 0 ? [...added.map(([n, v]) => makeField(n, v)), ...split.fields] : split.fields;
  if (fields.length === 0) throw new DataError("not an RFC 5322 message: no header fields");
  if (options.trace !== undefined) fields = [makeField("Received", options.trace), ...fields];
  // The stored text is the input itself unless a field is added or removed (or line ends change).
  let changed = added.length > 0 || options.trace !== undefined;
  const drop = (name: string) => {
    const kept = withoutFields(fields, name);
    changed ||= kept !== fields;
    fields = kept;
  };

  // Precedence: the caller's explicit priority, then the header, then nodemailer's field, then medium.
  // The header is parsed even when the caller's priority wins, so a bad value never passes silently.
  const headerValue = firstValue(fields, PRIORITY_HEADER);
  const headerPriority = headerValue !== null ? parsePriority(headerValue, PRIORITY_HEADER) : undefined;
  const priority = options.priority ?? headerPriority ?? options.fallbackPriority ?? PRIORITY.medium;
  drop(PRIORITY_HEADER);
  const schedule = scheduleOf(fields, options.schedule ?? {}, options.now ?? new Date());
  for (const name of [SEND_AT_HEADER, EXPIRES_AT_HEADER, IDEMPOTENCY_KEY_HEADER]) drop(name);

  const routing = options.routing;
  const fromHeaders = options.recipientsFromHeaders ?? options.envelopeTo === undefined;
  const route = (address: string, origin: string) => (routing ? routing.recipients(address) : [checkAddress(address, origin)]);
  const recipients = (options.envelopeTo ?? []).flatMap((a) => route(a.trim(), "recipient"));
  if (fromHeaders) {
    for (const name of ["To", "Cc", "Bcc"]) {
      for (const field of findFields(fields, name)) {
        for (const m of parseMailboxes(fieldValue(field), name)) recipients.push(...route(m.address, name));
      }
    }
  }
  if (routing) {
    const qualified = qualifyHeaders(fields, routing);
    changed ||= qualified !== fields;
    fields = qualified;
  }
  // Bcc never travels in the text: its recipients are in the envelope only.
  drop("Bcc");
  const envelopeTo = uniqueAddresses(recipients);
  if (envelopeTo.length === 0) throw new DataError("message has no recipients");

  let envelopeFrom = options.envelopeFrom;
  if (envelopeFrom === undefined) {
    const sender = firstValue(fields, "Sender") ?? firstValue(fields, "From");
    envelopeFrom = sender ? (parseAddressList(sender, "From", routing?.qualify)[0] ?? "") : (options.defaultSender ?? "");
  } else if (envelopeFrom !== "") {
    envelopeFrom = checkAddress(routing ? routing.qualify(envelopeFrom.trim()) : envelopeFrom.trim(), "sender");
  }

  if (!hasField(fields, "From")) {
    // RFC 5322 requires From; we can only add one when we know who sends.
    const author = envelopeFrom || options.defaultSender;
    if (!author) throw new DataError("message has no From header and no sender address (give one)");
    // Below the trace fields (Received:, Return-Path:), which stay on top (RFC 5322 §3.6).
    const trace = leadingTrace(fields);
    fields = [...fields.slice(0, trace), makeField("From", mailbox(options.fromName, author)), ...fields.slice(trace)];
    changed = true;
  }
  let messageId = firstValue(fields, "Message-ID");
  if (messageId === null || messageId === "") {
    messageId = newMessageId();
    fields = [...withoutFields(fields, "Message-ID"), makeField("Message-ID", messageId)];
    changed = true;
  }
  if (!hasField(fields, "Date")) {
    fields = [...fields, makeField("Date", rfc5322Date(new Date()))];
    changed = true;
  }

  const data = changed || !split.canonical ? joinMessage({ fields, body: split.body }) : raw;
  checkSize(data.byteLength, maxSize);
  return { data, messageId, subject: firstValue(fields, "Subject") ?? "", envelopeFrom, envelopeTo, priority, schedule };
}

/** The caller's options, else the headers'; a bad header value fails even when the caller's wins. */
function scheduleOf(fields: HeaderField[], given: Schedule, now: Date): Schedule {
  const header = (name: string) => firstValue(fields, name) ?? undefined;
  const fromHeaders = scheduleFrom(
    { sendAt: header(SEND_AT_HEADER), expiresAt: header(EXPIRES_AT_HEADER), idempotencyKey: header(IDEMPOTENCY_KEY_HEADER) },
    HEADER_NAMES,
    now,
  );
  return checkSchedule({ ...fromHeaders, ...given }, now);
}

/** How many fields at the top are trace fields (Received:, Return-Path:). */
function leadingTrace(fields: HeaderField[]): number {
  const at = fields.findIndex((f) => !/^(received|return-path)$/i.test(f.name));
  return at === -1 ? fields.length : at;
}

/** The address fields in which a bare local name is qualified (Postfix's append_at_myorigin). */
const ADDRESS_FIELD = /^(?:from|sender|reply-to|to|cc)$/i;

/** `fields` itself when no address field names a bare local name; else a copy with those fields
 * rewritten ("To: root" -> "To: root@example.org"; "From: root (Cron Daemon)" -> "From: "Cron Daemon"
 * <root@example.org>"). Only such fields are rebuilt, so ordinary messages keep their bytes. */
function qualifyHeaders(fields: HeaderField[], routing: Routing): HeaderField[] {
  let out = fields;
  fields.forEach((field, index) => {
    if (!ADDRESS_FIELD.test(field.name)) return;
    // Bulk enqueue meets this on every message: one address with its @ (the usual field) is settled on
    // the raw text, with no unfolding and no parsing.
    if (!field.raw.includes(",") && field.raw.includes("@")) return;
    const value = fieldValue(field);
    if (!namesLocalName(value, field.name)) return;
    const rebuilt = parseMailboxes(value, field.name)
      .map((m) => mailbox(m.name || undefined, isLocalName(m.address) ? routing.qualify(m.address) : m.address))
      .join(", ");
    if (out === fields) out = [...fields];
    out[index] = makeField(field.name, rebuilt);
  });
  return out;
}

/** "Mon, 30 Nov 2026 01:54:26 +0000": toUTCString's "GMT" is only an obsolete zone in RFC 5322. */
export const rfc5322Date = (date: Date) => date.toUTCString().replace(/GMT$/, "+0000");
