// The tables as Kysely sees them. docs/schema.md explains each column for people writing plain SQL.
import type { ColumnType, Generated } from "kysely";

/** Times are Date on PostgreSQL (timestamptz) and ISO-8601 text on SQLite; see dialect.ts. */
export type DbTime = Date | string;
export type Bytes = Uint8Array;

export type MessageStatus = "queued" | "deferred" | "failed";
export type LogResult = "success" | "dont_send" | "failure";

export interface MessageTable {
  id: Generated<number>;
  message_data: Bytes;
  message_id: ColumnType<string, string | undefined, string>;
  subject: ColumnType<string, string | undefined, string>;
  envelope_from: ColumnType<string, string | undefined, string>;
  envelope_to: string;
  priority: ColumnType<number, number | undefined, number>;
  status: ColumnType<MessageStatus, MessageStatus | undefined, MessageStatus>;
  when_added: ColumnType<DbTime, DbTime | undefined, DbTime>;
  retry_count: ColumnType<number, number | undefined, number>;
  next_attempt_at: DbTime | null;
  last_error: ColumnType<string, string | undefined, string>;
  claimed_by: string | null;
  lease_until: DbTime | null;
}

export interface MessageLogTable {
  id: Generated<number>;
  queue_id: number | null;
  message_data: Bytes | null;
  message_id: string | null;
  subject: string;
  envelope_from: string;
  envelope_to: string;
  when_added: DbTime;
  priority: number;
  retry_count: number;
  when_attempted: ColumnType<DbTime, DbTime | undefined, DbTime>;
  result: LogResult;
  log_message: ColumnType<string, string | undefined, string>;
}

export interface DontSendTable {
  id: Generated<number>;
  to_address: string;
  when_added: ColumnType<DbTime, DbTime | undefined, DbTime>;
}

export interface SpoolImportTable {
  name: string;
  imported_at: ColumnType<DbTime, DbTime | undefined, DbTime>;
}

export interface Schema {
  mailer_spoolimport: SpoolImportTable;
  mailer_message: MessageTable;
  mailer_messagelog: MessageLogTable;
  mailer_dontsendentry: DontSendTable;
}
