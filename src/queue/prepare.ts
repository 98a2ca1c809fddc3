// Every enqueue path ends here: a complete RFC 5322 message plus its envelope becomes the row we store.
import { DataError } from "../errors.ts";
import { parseAddressList, checkAddress, uniqueAddresses } from "./address.ts";
import {
  findFields,
  firstValue,
  joinMessage,
  makeField,
  splitMessage,
  withoutFields,
  type HeaderField,
} from "./headers.ts";
import { newMessageId } from "./message-id.ts";
import { PRIORITY, parsePriority, type Priority } from "./priority.ts";

/** Header that sets the priority on any path; removed before the text is stored. */
export const PRIORITY_HEADER = "X-Mailer-Priority";

export interface PreparedMessage {
  data: Uint8Array;
  messageId: string;
  subject: string;
  envelopeFrom: string;
  envelopeTo: string[];
  priority: Priority;
}

export interface PrepareOptions {
  /** MAIL FROM; default: the Sender or From header's address ("" is the null sender). */
  envelopeFrom?: string;
  /** RCPT TO given by the caller (sendmail arguments, SMTP envelope, API). */
  envelopeTo?: string[];
  /** Add To/Cc/Bcc addresses to the envelope (sendmail -t; the default when no envelope is given). */
  recipientsFromHeaders?: boolean;
  /** A priority given by the caller wins over the header. */
  priority?: Priority;
  maxSize?: number;
}

export function prepareMessage(raw: Uint8Array, options: PrepareOptions = {}): PreparedMessage {
  const maxSize = options.maxSize ?? Infinity;
  if (raw.byteLength > maxSize) {
    throw new DataError(`message is ${raw.byteLength} bytes, over the limit of ${maxSize} bytes (queue.max_size)`);
  }
  if (raw.includes(0)) throw new DataError("message contains NUL bytes, which RFC 5322 forbids");
  const split = splitMessage(raw);
  let fields: HeaderField[] = split.fields;
  if (fields.length === 0) throw new DataError("not an RFC 5322 message: no header fields");

  const headerPriority = firstValue(fields, PRIORITY_HEADER);
  const priority =
    options.priority ?? (headerPriority !== null ? parsePriority(headerPriority, PRIORITY_HEADER) : PRIORITY.medium);
  fields = withoutFields(fields, PRIORITY_HEADER);

  const fromHeaders = options.recipientsFromHeaders ?? options.envelopeTo === undefined;
  const recipients = [...(options.envelopeTo ?? []).map((a) => checkAddress(a.trim(), "recipient"))];
  if (fromHeaders) {
    for (const name of ["To", "Cc", "Bcc"]) {
      for (const field of findFields(fields, name)) recipients.push(...parseAddressList(firstValueOf(field), name));
    }
  }
  // Bcc never travels in the text: its recipients are in the envelope only.
  fields = withoutFields(fields, "Bcc");
  const envelopeTo = uniqueAddresses(recipients);
  if (envelopeTo.length === 0) throw new DataError("message has no recipients");

  let envelopeFrom = options.envelopeFrom;
  if (envelopeFrom === undefined) {
    const sender = firstValue(fields, "Sender") ?? firstValue(fields, "From");
    envelopeFrom = sender ? (parseAddressList(sender, "From")[0] ?? "") : "";
  } else if (envelopeFrom !== "") {
    envelopeFrom = checkAddress(envelopeFrom.trim(), "sender");
  }

  let messageId = firstValue(fields, "Message-ID");
  if (messageId === null || messageId === "") {
    messageId = newMessageId();
    fields = [...withoutFields(fields, "Message-ID"), makeField("Message-ID", messageId)];
  }
  if (firstValue(fields, "Date") === null) fields = [...fields, makeField("Date", new Date().toUTCString())];
  if (firstValue(fields, "From") === null && envelopeFrom) fields = [makeField("From", envelopeFrom), ...fields];

  const data = joinMessage({ fields, body: split.body });
  if (data.byteLength > maxSize) {
    throw new DataError(`message is ${data.byteLength} bytes, over the limit of ${maxSize} bytes (queue.max_size)`);
  }
  return { data, messageId, subject: firstValue(fields, "Subject") ?? "", envelopeFrom, envelopeTo, priority };
}

function firstValueOf(field: HeaderField): string {
  return firstValue([field], field.name) ?? "";
}
