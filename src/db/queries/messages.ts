// Statements on mailer_message used by the enqueue paths and the read-only commands.
import type { DbTime } from "../schema.ts";
import type { StatementTarget } from "../dialect.ts";
import { insertRows } from "./insert-rows.ts";

export interface NewMessageRow {
  message_data: Uint8Array;
  message_id: string;
  subject: string;
  envelope_from: string;
  envelope_to: string;
  priority: number;
  /** Send-at: not claimed before (null = now). */
  next_attempt_at: DbTime | null;
  expires_at: DbTime | null;
}

/** envelope_to holds the recipients comma-separated, so a plain SQL INSERT can write it by hand. */
export const joinRecipients = (addresses: string[]) => addresses.join(", ");
export const splitRecipients = (text: string) =>
  text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);

const MESSAGE_COLUMNS = [
  "message_data", "message_id", "subject", "envelope_from", "envelope_to", "priority", "next_attempt_at", "expires_at",
] as const satisfies readonly (keyof NewMessageRow)[];
/** Fails to compile when NewMessageRow gains a field that is not in the list above. */
const everyColumn: [Exclude<keyof NewMessageRow, (typeof MESSAGE_COLUMNS)[number]>] extends [never] ? true : never = true;
void everyColumn;

export async function insertMessages(db: StatementTarget, rows: NewMessageRow[]): Promise<number[]> {
  const inserted = await insertRows<{ id: number | string }>(db, "mailer_message", MESSAGE_COLUMNS, rows, "id");
  return inserted.map((r) => Number(r.id));
}
