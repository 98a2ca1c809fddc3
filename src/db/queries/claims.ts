// The delivery engine's statements on mailer_message: claim a batch under a lease, release claims,
// and record a batch's outcomes. Claims are committed before any SMTP conversation (SPEC §5): no
// transaction is ever held open across the network.
import { sql, type ExpressionBuilder, type Kysely, type Selectable, type Transaction } from "kysely";
import type { Database } from "../connect.ts";
import type { DbTime, MessageStatus, MessageTable, Schema } from "../schema.ts";
import { fromDbTime } from "../dialect.ts";
import { chunks } from "./chunks.ts";
import { insertLogs, type NewLogRow } from "./logs.ts";
import { insertNew } from "./insert-new.ts";
import { dontSendVersionExpression } from "./dont-send.ts";
import { byteaResult } from "../bytea.ts";
import { sqlOf } from "../dialect-sql.ts";

export type ClaimedRow = Selectable<MessageTable>;

/** Every column of a claimed row but its text, which a dialect may read in another form (bytesAsText). */
const COLUMNS_BUT_TEXT = [
  "id", "message_id", "subject", "envelope_from", "envelope_to", "priority", "status", "when_added", "retry_count",
  "next_attempt_at", "last_error", "claimed_by", "lease_until", "expires_at", "limited_by",
] as const satisfies ReadonlyArray<Exclude<keyof MessageTable, "message_data">>;

/** What a pass may take now: queued, due, and not under someone else's live lease. */
function sendableNow(now: DbTime) {
  return (eb: ExpressionBuilder<Schema, "mailer_message">) =>
    eb.and([
      eb("status", "=", "queued"),
      eb.or([eb("next_attempt_at", "is", null), eb("next_attempt_at", "<=", now)]),
      eb.or([eb("claimed_by", "is", null), eb("lease_until", "is", null), eb("lease_until", "<", now)]),
      // Past its expiry a message is not sent; the next pass's sweep logs it (expiry.ts).
      eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]),
    ]);
}

export interface Claim {
  /** In queue order. */
  rows: ClaimedRow[];
  /** The don't-send list had entries when the rows were claimed (false when no row was claimed): the
   * usual case (it is empty) then costs no statement of its own before the first send of a batch. */
  dontSendListed: boolean;
  /** The don't-send list's change counter as of the claim (dont-send.ts dontSendVersion). */
  dontSendVersion: number;
}

/** Claims up to `limit` messages in queue order (priority, age, id) for `worker`, in one statement.
 * On PostgreSQL the inner SELECT takes row locks with SKIP LOCKED, so concurrent workers on any host
 * claim disjoint rows without waiting; SQLite runs the statement under its single write lock. MariaDB
 * has no UPDATE … RETURNING: there the same locking SELECT, the UPDATE and a read of the rows are one
 * transaction. */
export async function claimBatch(
  db: Database,
  worker: string,
  limit: number,
  now: Date,
  leaseUntil: Date,
  /** Only these messages (the console's "send now"); at most a few thousand. */
  only?: readonly number[],
): Promise<Claim> {
  if (limit <= 0 || only?.length === 0) return { rows: [], dontSendListed: false, dontSendVersion: -1 };
  const nowDb = db.dialect.toDb(now);
  const pick = (q: Kysely<Schema>) => {
    const ids = q
      .selectFrom("mailer_message")
      .select("id")
      .where(sendableNow(nowDb))
      .$if(only !== undefined, (p) => p.where("id", "in", only!))
      .orderBy("priority")
      .orderBy("when_added")
      .orderBy("id")
      .limit(limit);
    return db.dialect.capabilities.skipLocked ? ids.forUpdate().skipLocked() : ids;
  };
  const claim = { claimed_by: worker, lease_until: db.dialect.toDb(leaseUntil), limited_by: null };
  // An uncorrelated subquery: evaluated once per statement, not once per row.
  const listed = sql<unknown>`exists (select 1 from mailer_dontsendentry)`.as("dont_send_listed");
  const version = dontSendVersionExpression.as("dont_send_version");
  type Row = ClaimedRow & { dont_send_listed?: unknown; dont_send_version?: unknown };
  const claimPicked = () => db.kysely.updateTable("mailer_message").set(claim).where("id", "in", pick(db.kysely));
  // On PostgreSQL the text comes in its escape form, half the bytes of hex (dialect-sql.ts bytesAsText).
  const asText = sqlOf(db.dialect).bytesAsText;
  let rows: Row[];
  if (!db.dialect.capabilities.pickAndChange) {
    rows = await db.kysely.transaction().execute(async (trx) => {
      const ids = (await pick(trx).execute()).map((r) => r.id);
      if (ids.length === 0) return [];
      await trx.updateTable("mailer_message").set(claim).where("id", "in", ids).execute();
      return trx.selectFrom("mailer_message").selectAll().select([listed, version]).where("id", "in", ids).execute();
    });
  } else if (asText) {
    const returned = await claimPicked().returning([...COLUMNS_BUT_TEXT, asText("message_data").as("message_text"), listed, version]).execute();
    rows = returned.map(({ message_text, ...row }) => ({ ...row, message_data: byteaResult(message_text) }));
  } else {
    rows = await claimPicked().returningAll().returning([listed, version]).execute();
  }
  // RETURNING gives no order: restore the queue order the pass dispatches in (each time parsed once,
  // not once per comparison).
  const added = new Map(rows.map((r) => [r, fromDbTime(r.when_added).getTime()]));
  rows.sort((a, b) => a.priority - b.priority || added.get(a)! - added.get(b)! || Number(a.id) - Number(b.id));
  // PostgreSQL says true/false, SQLite 1/0.
  const first = rows[0];
  return {
    rows,
    dontSendListed: first !== undefined && Boolean(Number(first.dont_send_listed)),
    dontSendVersion: first === undefined ? -1 : Number(first.dont_send_version),
  };
}

/** Is there anything a pass could claim right now? (runmailer decides whether to sleep.) */
export async function hasSendable(db: Database, now: Date): Promise<boolean> {
  const row = await db.kysely
    .selectFrom("mailer_message")
    .select("id")
    .where(sendableNow(db.dialect.toDb(now)))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** When the next message comes due by itself: the earliest future next_attempt_at of a queued
 * message (send-at, a limit's hold) or, under [retry] auto, of a deferred one. null when none has
 * one. Backed by the partial index on next_attempt_at. */
export async function nextDueAt(db: Database, now: Date): Promise<Date | null> {
  const row = await db.kysely
    .selectFrom("mailer_message")
    .select((eb) => eb.fn.min("next_attempt_at").as("next"))
    .where("next_attempt_at", "is not", null)
    .where("next_attempt_at", ">", db.dialect.toDb(now))
    .where("status", "in", ["queued", "deferred"])
    .executeTakeFirst();
  return row?.next ? fromDbTime(row.next as DbTime) : null;
}

/** Every worker identity holding a claim (backed by a partial index on claimed_by). */
export async function claimOwners(db: Database): Promise<string[]> {
  const rows = await db.kysely
    .selectFrom("mailer_message")
    .select("claimed_by")
    .distinct()
    .where("claimed_by", "is not", null)
    .execute();
  return rows.map((r) => r.claimed_by!).filter(Boolean);
}

/** Drops every claim held by these workers (they are known to be dead). Returns the rows released. */
export async function releaseOwners(db: Database, owners: string[]): Promise<number> {
  if (owners.length === 0) return 0;
  const result = await db.kysely
    .updateTable("mailer_message")
    .set({ claimed_by: null, lease_until: null })
    .where("claimed_by", "in", owners)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Pushes the lease of those `ids` still claimed by `worker` out to `leaseUntil`: a batch whose sends
 * are slow keeps its claims, so no other worker takes a message over (and sends it again) while it
 * is being sent. Guarded by `claimed_by = worker`: a claim already lost stays lost. Returns how many
 * rows were still ours. */
export async function renewLeases(db: Database, worker: string, ids: number[], leaseUntil: Date): Promise<number> {
  let kept = 0;
  for (const part of chunks(ids)) {
    const result = await db.kysely
      .updateTable("mailer_message")
      .set({ lease_until: db.dialect.toDb(leaseUntil) })
      .where("id", "in", part)
      .where("claimed_by", "=", worker)
      .executeTakeFirst();
    kept += Number(result.numUpdatedRows);
  }
  return kept;
}

export interface RowChange {
  id: number;
  status: MessageStatus;
  last_error: string;
  /** Set when the recipients still owed the message changed (partial rejection, don't-send). */
  envelope_to?: string;
  /** Set when the engine added a Message-ID at send time, so retries keep it. */
  message_data?: Uint8Array;
  message_id?: string;
  /** Deferred or failed: when the message is due again ([retry] auto), or null (never by itself).
   * Held by a limit: when the limit allows it. */
  next_attempt_at?: DbTime | null;
  /** Held by a limit: its name. */
  limited_by?: string | null;
}

export interface BatchRecord {
  /** Unique to this record (made once, kept across its retries): a retry of a commit that happened
   * but whose acknowledgement was lost finds it and writes nothing a second time. */
  key?: string;
  logs: NewLogRow[];
  /** Delivered (or dropped as don't-send): the row goes. */
  remove: number[];
  /** Deferred or failed: the row stays, unclaimed, with its new state. */
  change: RowChange[];
  /** Claimed but not attempted: given back to the queue as it was. */
  release: number[];
}

/** False when a record with this key was committed already. */
async function claimRecordKey(trx: Transaction<Schema>, key: string): Promise<boolean> {
  return (await insertNew(trx, "mailer_recordedbatch", { key }, ["key"])) > 0;
}

/** Forgets the keys of records older than `cutoff` (their retries are long over). */
export async function pruneRecordKeys(db: Database, cutoff: Date): Promise<number> {
  const result = await db.kysely.deleteFrom("mailer_recordedbatch").where("recorded_at", "<", db.dialect.toDb(cutoff)).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** One transaction for a whole batch. Every row statement is guarded by `claimed_by = worker`: if our
 * lease expired and another worker took the message, its state is theirs to record. The log rows are
 * written regardless, because what they record (an attempt we made) did happen, but once: a record
 * with a `key` already committed writes nothing. */
export async function recordBatch(db: Database, worker: string, record: BatchRecord): Promise<void> {
  if (record.logs.length + record.remove.length + record.change.length + record.release.length === 0) return;
  await db.kysely.transaction().execute(async (trx: Transaction<Schema>) => {
    if (record.key !== undefined && !(await claimRecordKey(trx, record.key))) return;
    for (const part of chunks(record.logs)) await insertLogs(trx, part);
    for (const part of chunks(record.remove)) {
      await trx.deleteFrom("mailer_message").where("id", "in", part).where("claimed_by", "=", worker).execute();
    }
    for (const change of record.change) {
      const { id, ...values } = change;
      await trx
        .updateTable("mailer_message")
        .set({ ...values, claimed_by: null, lease_until: null })
        .where("id", "=", id)
        .where("claimed_by", "=", worker)
        .execute();
    }
    for (const part of chunks(record.release)) {
      await trx
        .updateTable("mailer_message")
        .set({ claimed_by: null, lease_until: null })
        .where("id", "in", part)
        .where("claimed_by", "=", worker)
        .execute();
    }
  });
}
