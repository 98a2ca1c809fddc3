// The tables as Kysely sees them. docs/schema.md explains each column for people writing plain SQL.
import type { ColumnType, Generated } from "kysely";

/** Times are Date on PostgreSQL (timestamptz) and ISO-8601 text on SQLite; see dialect.ts. */
export type DbTime = Date | string;
export type Bytes = Uint8Array;

export type MessageStatus = "queued" | "deferred" | "failed";
export const LOG_RESULTS = ["success", "failure", "dont_send", "expired"] as const;
export type LogResult = (typeof LOG_RESULTS)[number];
/** A count per log result, all zero. */
export const zeroLogCounts = (): Record<LogResult, number> => ({ success: 0, failure: 0, dont_send: 0, expired: 0 });

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
  /** Unsent at this time: dropped and logged `expired`. */
  expires_at: ColumnType<DbTime | null, DbTime | null | undefined, DbTime | null>;
  /** The limit a queued message waits for (next_attempt_at says until when), e.g. "domain gmail.com". */
  limited_by: ColumnType<string | null, string | null | undefined, string | null>;
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

export interface CounterTable {
  name: string;
  value: number;
}

export interface RecordedBatchTable {
  key: string;
  recorded_at: ColumnType<DbTime, DbTime | undefined, DbTime>;
}

export interface SpoolImportTable {
  name: string;
  imported_at: ColumnType<DbTime, DbTime | undefined, DbTime>;
}

/** An idempotency key and the message first queued with it. */
export interface IdempotencyKeyTable {
  key: string;
  queue_id: number;
  created_at: ColumnType<DbTime, DbTime | undefined, DbTime>;
}

/** A shared limit's state: a token bucket (tokens at updated_at, epoch seconds) or a day's counter. */
export interface RateLimitTable {
  name: string;
  tokens: number;
  updated_at: number;
  /** What the last statement granted (returned by the same UPDATE). */
  granted: ColumnType<number, number | undefined, number>;
}

/** One concurrency slot of a per-domain limit. */
export interface LimitSlotTable {
  name: string;
  slot: number;
  holder: string | null;
  lease_until: DbTime | null;
}

export interface Schema {
  mailer_counter: CounterTable;
  mailer_recordedbatch: RecordedBatchTable;
  mailer_idempotencykey: IdempotencyKeyTable;
  mailer_ratelimit: RateLimitTable;
  mailer_limitslot: LimitSlotTable;
  mailer_spoolimport: SpoolImportTable;
  mailer_message: MessageTable;
  mailer_messagelog: MessageLogTable;
  mailer_dontsendentry: DontSendTable;
}
