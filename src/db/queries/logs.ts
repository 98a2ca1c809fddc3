// Statements on mailer_messagelog: one row per attempt outcome.
import type { Kysely, Transaction } from "kysely";
import type { LogResult, Schema } from "../schema.ts";

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

export async function insertLogs(db: Db, rows: NewLogRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.insertInto("mailer_messagelog").values(rows).execute();
}

export async function logCounts(db: Db, since?: Date | string): Promise<Record<LogResult, number>> {
  let query = db.selectFrom("mailer_messagelog").select(({ fn }) => ["result", fn.countAll<number>().as("n")]).groupBy("result");
  if (since !== undefined) query = query.where("when_attempted", ">=", since);
  const rows = await query.execute();
  const counts: Record<LogResult, number> = { success: 0, dont_send: 0, failure: 0 };
  for (const row of rows) counts[row.result] = Number(row.n);
  return counts;
}
