// Statements on mailer_messagelog: one row per attempt outcome.
import type { Kysely, Transaction } from "kysely";
import type { LogResult, Schema } from "../schema.ts";
import { insertRows } from "./insert-rows.ts";

type Db = Kysely<Schema> | Transaction<Schema>;

export interface NewLogRow {
  queue_id: number | null;
  message_data: Uint8Array | null;
  message_id: string | null;
  subject: string;
  envelope_from: string;
  envelope_to: string;
  when_added: Date | string;
  priority: number;
  retry_count: number;
  result: LogResult;
  log_message: string;
}

const LOG_COLUMNS = [
  "queue_id", "message_data", "message_id", "subject", "envelope_from", "envelope_to", "when_added", "priority", "retry_count",
  "result", "log_message",
] as const satisfies readonly (keyof NewLogRow)[];
/** Fails to compile when NewLogRow gains a field that is not in the list above. */
const everyColumn: [Exclude<keyof NewLogRow, (typeof LOG_COLUMNS)[number]>] extends [never] ? true : never = true;
void everyColumn;

export async function insertLogs(db: Db, rows: NewLogRow[]): Promise<void> {
  await insertRows(db, "mailer_messagelog", LOG_COLUMNS, rows);
}
