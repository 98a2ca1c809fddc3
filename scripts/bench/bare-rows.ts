// What the bare programs (bare-pg-worker.ts, bare-drain.ts) read of a claimed row and write of it to
// the log: mailer's own tables, plain statements, nothing of mailer's code.

export interface Row {
  id: number;
  message_id: string;
  subject: string;
  envelope_from: string;
  envelope_to: string;
  when_added: unknown;
  priority: number;
  retry_count: number;
  message_data: Uint8Array;
}

/** The columns a claim returns (`returning …`). */
export const ROW_COLUMNS = "id, message_id, subject, envelope_from, envelope_to, when_added, priority, retry_count, message_data";

/** One success row for a sent message; its parameters are logValues(row). */
export const LOG_INSERT = `insert into mailer_messagelog (queue_id, message_id, subject, envelope_from, envelope_to, when_added, priority, retry_count, result, log_message)
  values ($1, $2, $3, $4, $5, $6, $7, $8, 'success', '')`;

export const logValues = (r: Row) => [r.id, r.message_id, r.subject, r.envelope_from, r.envelope_to, r.when_added, r.priority, r.retry_count];
