// A batch's attempts become one BatchRecord, written in one transaction (claims.ts recordBatch).
import type { BatchRecord, ClaimedRow } from "../db/queries/claims.ts";
import type { NewLogRow } from "../db/queries/logs.ts";
import { joinRecipients, splitRecipients } from "../db/queries/messages.ts";
import type { DbTime, LogResult } from "../db/schema.ts";
import type { Attempt } from "./attempt.ts";

export interface RecordOptions {
  logMessageData: boolean;
  /** A time as the database stores it (dialect.toDb). */
  toDb(date: Date): DbTime;
}

export function buildRecord(attempts: Attempt[], unattempted: ClaimedRow[], options: RecordOptions): BatchRecord {
  const record: BatchRecord = { key: crypto.randomUUID(), logs: [], remove: [], change: [], release: unattempted.map((r) => r.id) };
  const log = (a: Attempt, result: LogResult, to: string[], text: string): NewLogRow => ({
    queue_id: a.row.id,
    message_data: options.logMessageData ? a.raw : null,
    message_id: a.messageId || null,
    subject: a.row.subject,
    envelope_from: a.row.envelope_from,
    envelope_to: joinRecipients(to),
    when_added: a.row.when_added,
    priority: a.row.priority,
    retry_count: a.row.retry_count,
    result,
    log_message: text,
  });
  for (const a of attempts) {
    if (a.delivered.length > 0) record.logs.push(log(a, "success", a.delivered, a.deliveredNote));
    if (a.suppressed.length > 0) {
      const text = a.delivered.length + a.remaining.length > 0
        ? "recipients on the don't-send list were dropped at send time"
        : "every recipient is on the don't-send list; not sent";
      record.logs.push(log(a, "dont_send", a.suppressed, text));
    }
    if (a.state === "done") {
      record.remove.push(a.row.id);
      continue;
    }
    if (a.state === "expired") {
      record.logs.push(log(a, "expired", a.remaining, a.error));
      record.remove.push(a.row.id);
      continue;
    }
    if (a.state === "held") {
      record.change.push({
        id: a.row.id, status: "queued", last_error: a.row.last_error,
        next_attempt_at: options.toDb(a.held!.until), limited_by: a.held!.limit,
      });
      continue;
    }
    if (a.state === "deferred" || a.state === "failed") record.logs.push(log(a, "failure", a.remaining, a.error));
    const envelopeTo = joinRecipients(a.remaining);
    const changedTo = a.remaining.length > 0 && envelopeTo !== joinRecipients(splitRecipients(a.row.envelope_to));
    const changedId = a.messageId !== "" && a.messageId !== a.row.message_id;
    if (a.state === "released" && !changedTo && !changedId) {
      record.release.push(a.row.id);
      continue;
    }
    record.change.push({
      id: a.row.id,
      // released (the handler broke its contract) keeps the message queued: only what was delivered
      // meanwhile is taken off its recipients.
      status: a.state === "released" ? "queued" : a.state,
      last_error: a.state === "released" ? a.row.last_error : a.error,
      ...(changedTo ? { envelope_to: envelopeTo } : {}),
      ...(changedId ? { message_id: a.messageId, message_data: a.raw } : {}),
      // Always written on a deferral or failure, so a stale time never revives a parked message.
      ...(a.state === "released" ? {} : { next_attempt_at: a.nextAttemptAt ? options.toDb(a.nextAttemptAt) : null }),
    });
  }
  return record;
}
