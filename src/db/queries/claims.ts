// The delivery engine's statements on mailer_message: claim a batch under a lease, release claims,
// and record a batch's outcomes. Claims are committed before any SMTP conversation (SPEC §5): no
// transaction is ever held open across the network. What every pass runs is written out as text
// (sql-text.ts says why); what runs only now and then (a dead worker's claims, a slow batch's
// leases, pruning) is built by Kysely.
import type { Selectable, Transaction } from "kysely";
import type { Database, Statement } from "../connect.ts";
import type { DbTime, MessageStatus, MessageTable, Schema } from "../schema.ts";
import { fromDbTime, runOn, type DialectInfo } from "../dialect.ts";
import { chunks } from "./chunks.ts";
import { insertLogs, type NewLogRow } from "./logs.ts";
import { VERSION_EXPRESSION } from "./dont-send-state.ts";
import { byteaResult } from "../bytea.ts";
import { retryDeadlocks } from "../deadlock.ts";
import { perDialect, sqlText, type SqlWriter } from "../sql-text.ts";

export type ClaimedRow = Selectable<MessageTable>;

/** Every column of a claimed row but its text, which a dialect may read in another form (bytesAsText). */
const COLUMNS_BUT_TEXT = [
  "id", "message_id", "subject", "envelope_from", "envelope_to", "priority", "status", "when_added", "retry_count",
  "next_attempt_at", "last_error", "claimed_by", "lease_until", "expires_at", "limited_by",
] as const satisfies ReadonlyArray<Exclude<keyof MessageTable, "message_data">>;

/** Not under a live claim: never claimed, released, or its lease run out. Its parameter: now. */
export const leaseFree = ({ q, p }: SqlWriter) =>
  `(${q("claimed_by")} is null or ${q("lease_until")} is null or ${q("lease_until")} < ${p()})`;

/** What a pass may take now: queued, due, and not under someone else's live lease. Past its expiry a
 * message is not sent; the next pass's sweep logs it (expiry.ts). Its parameters: sendableNowValues. */
const sendableNow = (w: SqlWriter) =>
  `(${w.q("status")} = ${w.p()} and (${w.q("next_attempt_at")} is null or ${w.q("next_attempt_at")} <= ${w.p()}) ` +
  `and ${leaseFree(w)} and (${w.q("expires_at")} is null or ${w.q("expires_at")} > ${w.p()}))`;
const sendableNowValues = (now: DbTime) => ["queued", now, now, now];

/** The ids a claim takes, in queue order (among `onlyCount` given ids, when not null). Parameters:
 * sendableNow's, those ids, the limit. On PostgreSQL it takes row locks with SKIP LOCKED, so
 * concurrent workers on any host claim disjoint rows without waiting. */
function pickSql(w: SqlWriter, onlyCount: number | null): string {
  const { q, p } = w;
  // Placeholders are numbered as written: each part is written in its place, left to right.
  let text = `select ${q("id")} from ${q("mailer_message")} where ${sendableNow(w)}`;
  if (onlyCount !== null) text += ` and ${q("id")} in (${w.list(onlyCount)})`;
  text += ` order by ${q("priority")}, ${q("when_added")}, ${q("id")} limit ${p()}`;
  return w.dialect.capabilities.skipLocked ? `${text} for update skip locked` : text;
}

/** The don't-send list's emptiness and change counter, returned with the claimed rows: the usual case
 * (the list is empty) then costs no statement of its own before a batch's first send. Uncorrelated
 * subqueries, evaluated once per statement, not once per row. */
const dontSendColumns = ({ q }: SqlWriter) =>
  `exists (select 1 from mailer_dontsendentry) as ${q("dont_send_listed")}, ${VERSION_EXPRESSION} as ${q("dont_send_version")}`;

const claimSet = ({ q, p }: SqlWriter) =>
  `update ${q("mailer_message")} set ${q("claimed_by")} = ${p()}, ${q("lease_until")} = ${p()}, ${q("limited_by")} = ${p()}`;

/** The claim in one statement (dialect.pickAndChange). Parameters: worker, lease, null (limited_by),
 * then pickSql's. On PostgreSQL the text comes in its escape form, half the bytes of hex. */
function claimInOne(w: SqlWriter, onlyCount: number | null): string {
  const { q, dialect } = w;
  const set = claimSet(w);
  const pick = pickSql(w, onlyCount);
  const columns = dialect.bytesAsText
    ? `${COLUMNS_BUT_TEXT.map((c) => q(c)).join(", ")}, ${dialect.bytesAsText(q("message_data"))} as ${q("message_text")}`
    : "*";
  return `${set} where ${q("id")} in (${pick}) returning ${columns}, ${dontSendColumns(w)}`;
}
const claimAnySql = perDialect((w) => claimInOne(w, null));

/** The claim's text: the same one each time, unless among `onlyCount` given ids. */
export const claimSql = (d: DialectInfo, onlyCount: number | null): string =>
  onlyCount === null ? claimAnySql(d) : sqlText(d, (w) => claimInOne(w, onlyCount));

/** Without pickAndChange (MariaDB: no LIMIT in an IN subquery, no UPDATE … RETURNING), the claim is
 * three statements in one transaction: pick (locking), claim, read. */
export const claimInSteps = {
  pick: (d: DialectInfo, onlyCount: number | null) => sqlText(d, (w) => pickSql(w, onlyCount)),
  set: (d: DialectInfo, count: number) => sqlText(d, (w) => `${claimSet(w)} where ${w.q("id")} in (${w.list(count)})`),
  read: (d: DialectInfo, count: number) =>
    sqlText(d, (w) => `select *, ${dontSendColumns(w)} from ${w.q("mailer_message")} where ${w.q("id")} in (${w.list(count)})`),
};

export interface Claim {
  /** In queue order. */
  rows: ClaimedRow[];
  /** The don't-send list had entries when the rows were claimed (false when no row was claimed). */
  dontSendListed: boolean;
  /** The don't-send list's change counter as of the claim (dont-send-state.ts dontSendVersion). */
  dontSendVersion: number;
}

type ReturnedRow = ClaimedRow & { message_text?: string; dont_send_listed?: unknown; dont_send_version?: unknown };

/** Claims up to `limit` messages in queue order (priority, age, id) for `worker`, in one statement:
 * SQLite runs it under its single write lock, PostgreSQL with SKIP LOCKED. MariaDB: claimInSteps. */
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
  const d = db.dialect;
  const claim = [worker, d.toDb(leaseUntil), null];
  const pick = [...sendableNowValues(d.toDb(now)), ...(only ?? []), limit];
  const onlyCount = only?.length ?? null;
  let rows: ReturnedRow[];
  if (!d.capabilities.pickAndChange) {
    // A deadlock's victim (beside the expiry sweep, say) took nothing: it is run again (deadlock.ts).
    rows = await retryDeadlocks(() => db.kysely.transaction().execute(async (trx) => {
      const ids = (await runOn<{ id: number }>(trx, { sql: claimInSteps.pick(d, onlyCount), parameters: pick })).rows.map((r) => r.id);
      if (ids.length === 0) return [];
      await runOn(trx, { sql: claimInSteps.set(d, ids.length), parameters: [...claim, ...ids] });
      return (await runOn<ReturnedRow>(trx, { sql: claimInSteps.read(d, ids.length), parameters: ids })).rows;
    }));
  } else {
    rows = (await db.executeQuery<ReturnedRow>({ sql: claimSql(d, onlyCount), parameters: [...claim, ...pick] })).rows;
    if (d.bytesAsText) {
      rows = rows.map(({ message_text, ...row }) => ({ ...row, message_data: byteaResult(message_text!) }));
    }
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

export const hasSendableSql = perDialect((w) => `select ${w.q("id")} from ${w.q("mailer_message")} where ${sendableNow(w)} limit ${w.p()}`);

/** Is there anything a pass could claim right now? (runmailer decides whether to sleep.) */
export async function hasSendable(db: Database, now: Date): Promise<boolean> {
  const found = await db.executeQuery({ sql: hasSendableSql(db.dialect), parameters: [...sendableNowValues(db.dialect.toDb(now)), 1] });
  return found.rows.length > 0;
}

export const nextDueSql = perDialect(({ q, p }) =>
  `select min(${q("next_attempt_at")}) as ${q("next")} from ${q("mailer_message")} ` +
  `where ${q("next_attempt_at")} is not null and ${q("next_attempt_at")} > ${p()} and ${q("status")} in (${p()}, ${p()})`);

/** When the next message comes due by itself: the earliest future next_attempt_at of a queued
 * message (send-at, a limit's hold) or, under [retry] auto, of a deferred one. null when none has
 * one. Backed by the partial index on next_attempt_at. */
export async function nextDueAt(db: Database, now: Date): Promise<Date | null> {
  const found = await db.executeQuery<{ next: DbTime | null }>({ sql: nextDueSql(db.dialect), parameters: [db.dialect.toDb(now), "queued", "deferred"] });
  const next = found.rows[0]?.next;
  return next ? fromDbTime(next) : null;
}

export const claimOwnersSql = perDialect(({ q }) => `select distinct ${q("claimed_by")} from ${q("mailer_message")} where ${q("claimed_by")} is not null`);

/** Every worker identity holding a claim (backed by a partial index on claimed_by). */
export async function claimOwners(db: Database): Promise<string[]> {
  const found = await db.executeQuery<{ claimed_by: string | null }>({ sql: claimOwnersSql(db.dialect), parameters: [] });
  return found.rows.map((r) => r.claimed_by!).filter(Boolean);
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

/** The record statements; every one that touches a row is guarded by `claimed_by = worker`. */
export const recordSql = {
  /** Skipped, not an error, when the key is there already: ON CONFLICT DO NOTHING, or MariaDB's INSERT
   * IGNORE (its ON DUPLICATE KEY UPDATE reports a skipped row as affected). */
  key: perDialect(({ dialect, q, p }) =>
    dialect.capabilities.onConflict
      ? `insert into ${q("mailer_recordedbatch")} (${q("key")}) values (${p()}) on conflict (${q("key")}) do nothing`
      : `insert ignore into ${q("mailer_recordedbatch")} (${q("key")}) values (${p()})`),
  /** Parameters: the ids, the worker. */
  remove: (d: DialectInfo, count: number) =>
    sqlText(d, ({ q, p, list }) => `delete from ${q("mailer_message")} where ${q("id")} in (${list(count)}) and ${q("claimed_by")} = ${p()}`),
  /** Parameters: the columns' values, null, null (the claim), the id, the worker. */
  change: (d: DialectInfo, columns: readonly string[]) =>
    sqlText(d, ({ q, p }) => {
      const set = [...columns, "claimed_by", "lease_until"].map((c) => `${q(c)} = ${p()}`).join(", ");
      return `update ${q("mailer_message")} set ${set} where ${q("id")} = ${p()} and ${q("claimed_by")} = ${p()}`;
    }),
  /** Parameters: null, null (the claim), the ids, the worker. */
  release: (d: DialectInfo, count: number) =>
    sqlText(d, ({ q, p, list }) =>
      `update ${q("mailer_message")} set ${q("claimed_by")} = ${p()}, ${q("lease_until")} = ${p()} where ${q("id")} in (${list(count)}) and ${q("claimed_by")} = ${p()}`),
};

/** False when a record with this key was committed already. */
async function claimRecordKey(trx: Transaction<Schema>, d: DialectInfo, key: string): Promise<boolean> {
  const result = await runOn(trx, { sql: recordSql.key(d), parameters: [key] });
  return Number(result.numAffectedRows ?? 0) > 0;
}

/** Forgets the keys of records older than the cutoff, its parameter (their retries are long over). */
export const pruneRecordKeysSql = perDialect(({ q, p }) => `delete from ${q("mailer_recordedbatch")} where ${q("recorded_at")} < ${p()}`);

export async function pruneRecordKeys(db: Database, cutoff: Date): Promise<number> {
  const result = await db.executeQuery({ sql: pruneRecordKeysSql(db.dialect), parameters: [db.dialect.toDb(cutoff)] });
  return Number(result.numAffectedRows ?? 0);
}

/** One transaction for a whole batch. Every row statement is guarded by `claimed_by = worker`: if our
 * lease expired and another worker took the message, its state is theirs to record. The log rows are
 * written regardless, because what they record (an attempt we made) did happen, but once: a record
 * with a `key` already committed writes nothing. */
export async function recordBatch(db: Database, worker: string, record: BatchRecord): Promise<void> {
  if (record.logs.length + record.remove.length + record.change.length + record.release.length === 0) return;
  const d = db.dialect;
  await db.kysely.transaction().execute(async (trx: Transaction<Schema>) => {
    const run = (statement: Statement) => runOn(trx, statement);
    if (record.key !== undefined && !(await claimRecordKey(trx, d, record.key))) return;
    for (const part of chunks(record.logs)) await insertLogs(trx, part);
    for (const part of chunks(record.remove)) await run({ sql: recordSql.remove(d, part.length), parameters: [...part, worker] });
    for (const { id, ...values } of record.change) {
      // As Kysely's set() did: a value left undefined is not written.
      const written = Object.entries(values).filter(([, value]) => value !== undefined);
      const parameters = [...written.map(([, value]) => value), null, null, id, worker];
      const columns = written.map(([column]) => column);
      await run({ sql: recordSql.change(d, columns), parameters });
    }
    for (const part of chunks(record.release)) await run({ sql: recordSql.release(d, part.length), parameters: [null, null, ...part, worker] });
  });
}
