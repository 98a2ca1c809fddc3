// Statements on mailer_message used by the enqueue paths and the read-only commands.
import type { Kysely, Transaction } from "kysely";
import type { Schema } from "../schema.ts";
import { insertRows } from "./insert-rows.ts";

type Db = Kysely<Schema> | Transaction<Schema>;

export interface NewMessageRow {
  message_data: Uint8Array;
  message_id: string;
  subject: string;
  envelope_from: string;
  envelope_to: string;
  priority: number;
}

/** envelope_to holds the recipients comma-separated, so a plain SQL INSERT can write it by hand. */
export const joinRecipients = (addresses: string[]) => addresses.join(", ");
export const splitRecipients = (text: string) =>
  text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);

const MESSAGE_COLUMNS = ["message_data", "message_id", "subject", "envelope_from", "envelope_to", "priority"] as const satisfies readonly (keyof NewMessageRow)[];
/** Fails to compile when NewMessageRow gains a field that is not in the list above. */
const everyColumn: [Exclude<keyof NewMessageRow, (typeof MESSAGE_COLUMNS)[number]>] extends [never] ? true : never = true;
void everyColumn;

export async function insertMessages(db: Db, rows: NewMessageRow[]): Promise<number[]> {
  const inserted = await insertRows<{ id: number | string }>(db, "mailer_message", MESSAGE_COLUMNS, rows, "id");
  return inserted.map((r) => Number(r.id));
}

export interface QueueCounts {
  queued: Record<1 | 2 | 3, number>;
  deferred: number;
  failed: number;
  oldestQueued: Date | string | null;
}

export async function queueCounts(db: Db): Promise<QueueCounts> {
  const rows = await db
    .selectFrom("mailer_message")
    .select(({ fn }) => ["status", "priority", fn.countAll<number>().as("n"), fn.min("when_added").as("oldest")])
    .groupBy(["status", "priority"])
    .execute();
  const counts: QueueCounts = { queued: { 1: 0, 2: 0, 3: 0 }, deferred: 0, failed: 0, oldestQueued: null };
  for (const row of rows) {
    const n = Number(row.n);
    if (row.status === "queued") {
      const p = row.priority as 1 | 2 | 3;
      counts.queued[p] = (counts.queued[p] ?? 0) + n;
      const oldest = row.oldest as Date | string | null;
      if (oldest !== null && (counts.oldestQueued === null || new Date(oldest) < new Date(counts.oldestQueued))) {
        counts.oldestQueued = oldest;
      }
    } else if (row.status === "deferred") counts.deferred += n;
    else if (row.status === "failed") counts.failed += n;
  }
  return counts;
}
