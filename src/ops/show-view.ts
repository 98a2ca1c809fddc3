// `mailer show`: one message's queue row, its stored headers and every log row written for it.
import type { Kysely } from "kysely";
import { fromDbTime } from "../db/dialect.ts";
import { findLogRows, findMessages, type LogRowView, type MessageRow } from "../db/queries/inspect.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import type { Schema } from "../db/schema.ts";
import { UsageError } from "../errors.ts";
import { priorityName } from "../queue/priority.ts";
import { parseMessageKey, type MessageKey } from "./message-key.ts";

export type ShowKey = MessageKey;

/** A queue id ("42") or a Message-ID, with or without its angle brackets. */
export function parseShowKey(arg: string | undefined): ShowKey {
  const text = (arg ?? "").trim();
  if (text === "") throw new UsageError("show: expected a queue id or a <Message-ID>");
  return parseMessageKey(text);
}

export const describeKey = (key: ShowKey) =>
  "id" in key ? `id ${key.id}` : `Message-ID ${key.messageIds[0]}`;

export interface ShownMessage {
  id: number;
  status: string;
  priority: string;
  when_added: string;
  retry_count: number;
  next_attempt_at: string | null;
  /** Unsent by then, it is dropped and logged expired. */
  expires_at: string | null;
  /** The limit it waits for (next_attempt_at says until when). */
  limited_by: string | null;
  last_error: string;
  claim: { by: string; until: string | null; live: boolean } | null;
  message_id: string;
  subject: string;
  envelope_from: string;
  envelope_to: string[];
  size_bytes: number;
  /** The stored message's header block, as queued (line breaks normalised to LF). */
  headers: string;
}

export interface ShownLog {
  id: number;
  queue_id: number | null;
  when_attempted: string;
  result: string;
  log_message: string;
  retry_count: number;
  message_id: string | null;
  envelope_to: string[];
  /** Whether the log kept the message text (delivery.log_message_data). */
  has_message_data: boolean;
}

export interface ShowResult {
  messages: ShownMessage[];
  log: ShownLog[];
}

export async function showMessage(db: Kysely<Schema>, key: ShowKey, now: Date): Promise<ShowResult> {
  return showFound(db, key, await findMessages(db, key), now);
}

/** showMessage for queue rows the caller has read already (the console needs their text too). */
export async function showFound(db: Kysely<Schema>, key: ShowKey, rows: MessageRow[], now: Date): Promise<ShowResult> {
  const queueIds = "id" in key ? [key.id] : rows.map((r) => r.id);
  const messageIds = new Set(("id" in key ? [] : key.messageIds).concat(rows.map((r) => r.message_id)));
  if ("id" in key && rows.length === 0) {
    // Sent mail has left the queue: its log rows still carry the id, and their Message-ID finds the
    // attempts it had under any other queue id.
    for (const log of await findLogRows(db, queueIds, [])) if (log.message_id) messageIds.add(log.message_id);
  }
  messageIds.delete(""); // a plain INSERT may leave it empty: that matches nothing in particular
  const log = await findLogRows(db, queueIds, [...messageIds]);
  return { messages: rows.map((r) => shownMessage(r, now)), log: log.map(shownLog) };
}

function shownMessage(row: MessageRow, now: Date): ShownMessage {
  const lease = row.lease_until === null ? null : fromDbTime(row.lease_until);
  return {
    id: row.id,
    status: row.status,
    priority: priorityName(row.priority),
    when_added: fromDbTime(row.when_added).toISOString(),
    retry_count: row.retry_count,
    next_attempt_at: row.next_attempt_at === null ? null : fromDbTime(row.next_attempt_at).toISOString(),
    expires_at: row.expires_at === null ? null : fromDbTime(row.expires_at).toISOString(),
    limited_by: row.limited_by,
    last_error: row.last_error,
    claim: row.claimed_by === null ? null : { by: row.claimed_by, until: lease?.toISOString() ?? null, live: lease !== null && lease > now },
    message_id: row.message_id,
    subject: row.subject,
    envelope_from: row.envelope_from,
    envelope_to: splitRecipients(row.envelope_to),
    size_bytes: row.message_data.byteLength,
    headers: headerBlock(row.message_data),
  };
}

function shownLog(row: LogRowView): ShownLog {
  return {
    id: row.id,
    queue_id: row.queue_id,
    when_attempted: fromDbTime(row.when_attempted).toISOString(),
    result: row.result,
    log_message: row.log_message,
    retry_count: row.retry_count,
    message_id: row.message_id,
    envelope_to: splitRecipients(row.envelope_to),
    has_message_data: row.has_message_data,
  };
}

/** Everything before the first empty line. Lossy UTF-8: headers are 7-bit by RFC 5322, and a stray
 * 8-bit byte should show as U+FFFD rather than stop the operator from seeing the rest. */
export function headerBlock(data: Uint8Array): string {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(data.subarray(0, 256 * 1024));
  const end = text.search(/\r?\n\r?\n/);
  return (end === -1 ? text : text.slice(0, end)).replace(/\r\n/g, "\n");
}
