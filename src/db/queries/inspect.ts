// Read-only statements behind `status`, `list` and `show`: nothing here writes, so an operator can
// run them against a live queue at any time.
import { sql, type Kysely } from "kysely";
import { dialectOf } from "../dialect.ts";
import { zeroLogCounts, type DbTime, type LogResult, type MessageStatus, type Schema } from "../schema.ts";
import { sqlOf } from "../dialect-sql.ts";

type Db = Kysely<Schema>;

export interface QueueSummary {
  /** Sendable now, by priority: status 'queued' and next_attempt_at null or due. */
  due: Record<1 | 2 | 3, number>;
  /** status 'queued' but next_attempt_at still in the future. */
  waiting: number;
  /** Of those, held back by a limit (limited_by set). */
  limited: number;
  deferred: number;
  failed: number;
  /** Claimed by a worker whose lease has not expired: being delivered right now. */
  claimed: number;
  /** Since when the longest-waiting sendable message has been sendable: its send-at (or a limit's
   * hold) when it had one, else when it was added. */
  oldestDue: DbTime | null;
  /** The earliest next_attempt_at among queued and deferred rows that have one. */
  nextAttempt: DbTime | null;
}

/** All sendable messages, whatever their priority. */
export const dueTotal = (summary: QueueSummary) => summary.due[1] + summary.due[2] + summary.due[3];

/** One (status, priority) group of the queue table: how many, how many sendable now, how many under
 * a live claim, and the oldest when_added (of all, and of the sendable ones). */
export interface QueueGroup {
  status: MessageStatus;
  priority: number;
  n: number;
  due: number;
  claimed: number;
  /** Queued, not due, and held back by a limit. */
  limited: number;
  oldest: DbTime | null;
  oldestDue: DbTime | null;
  nextAttempt: DbTime | null;
}

/** The queue counted by status and priority in one scan (status, the console, /metrics).
 * `now` is in the database's own time form (dialect.toDb), so the comparisons run in SQL. */
export async function queueGroups(db: Db, now: DbTime): Promise<QueueGroup[]> {
  const due = sql<boolean>`(status = 'queued' and (next_attempt_at is null or next_attempt_at <= ${now}))`;
  // Plain SQL for the FROM its dialect needs (dialect-sql.ts wholeMessageTable). oldest_due counts from
  // when a message became sendable: one sent later (or held by a limit) that just came due is not
  // "old" (status --check --max-age and the QueueStalled alert would cry wolf).
  const { rows } = await sql<{
    status: MessageStatus;
    priority: number | string;
    n: number | string;
    due: number | string | null;
    claimed: number | string | null;
    limited: number | string | null;
    oldest: DbTime | null;
    oldest_due: DbTime | null;
    next_attempt: DbTime | null;
  }>`select status, priority, count(*) as n,
      sum(case when ${due} then 1 else 0 end) as due,
      sum(case when claimed_by is not null and lease_until > ${now} then 1 else 0 end) as claimed,
      sum(case when limited_by is not null and next_attempt_at > ${now} then 1 else 0 end) as limited,
      min(when_added) as oldest,
      min(case when ${due} then coalesce(next_attempt_at, when_added) end) as oldest_due,
      min(next_attempt_at) as next_attempt
    from ${sqlOf(dialectOf(db)).wholeMessageTable}
    group by status, priority`.execute(db);
  return rows.map((r) => ({
    status: r.status,
    priority: Number(r.priority),
    n: Number(r.n),
    due: Number(r.due ?? 0),
    claimed: Number(r.claimed ?? 0),
    limited: Number(r.limited ?? 0),
    oldest: r.oldest,
    oldestDue: r.oldest_due,
    nextAttempt: r.next_attempt,
  }));
}

export async function queueSummary(db: Db, now: DbTime): Promise<QueueSummary> {
  return summarise(await queueGroups(db, now));
}

export function summarise(groups: QueueGroup[]): QueueSummary {
  const summary: QueueSummary = {
    due: { 1: 0, 2: 0, 3: 0 },
    waiting: 0,
    limited: 0,
    deferred: 0,
    failed: 0,
    claimed: 0,
    oldestDue: null,
    nextAttempt: null,
  };
  for (const row of groups) {
    summary.claimed += row.claimed;
    if (row.status === "queued") {
      const p = row.priority as 1 | 2 | 3;
      summary.due[p] = (summary.due[p] ?? 0) + row.due;
      summary.waiting += row.n - row.due;
      summary.limited += row.limited;
      summary.oldestDue = earliest(summary.oldestDue, row.oldestDue);
    } else if (row.status === "deferred") summary.deferred += row.n;
    else if (row.status === "failed") summary.failed += row.n;
    if (row.status !== "failed") summary.nextAttempt = earliest(summary.nextAttempt, row.nextAttempt);
  }
  return summary;
}

export function earliest(a: DbTime | null, b: DbTime | null): DbTime | null {
  if (b === null) return a;
  if (a === null) return b;
  return new Date(b).getTime() < new Date(a).getTime() ? b : a;
}

export type LogWindowCounts = Record<"hour" | "day" | "all", Record<LogResult, number>>;

/** Log rows by result, for the last hour, the last day and all time, in one scan. */
export async function logWindowCounts(db: Db, hourAgo: DbTime, dayAgo: DbTime): Promise<LogWindowCounts> {
  const rows = await db
    .selectFrom("mailer_messagelog")
    .select([
      "result",
      sql<number>`count(*)`.as("all"),
      sql<number>`sum(case when when_attempted >= ${dayAgo} then 1 else 0 end)`.as("day"),
      sql<number>`sum(case when when_attempted >= ${hourAgo} then 1 else 0 end)`.as("hour"),
    ])
    .groupBy("result")
    .execute();
  const counts: LogWindowCounts = { hour: zeroLogCounts(), day: zeroLogCounts(), all: zeroLogCounts() };
  for (const row of rows) {
    if (!(row.result in counts.all)) continue;
    counts.all[row.result] = Number(row.all);
    counts.day[row.result] = Number(row.day ?? 0);
    counts.hour[row.result] = Number(row.hour ?? 0);
  }
  return counts;
}

export interface MessageListRow {
  id: number;
  status: MessageStatus;
  priority: number;
  when_added: DbTime;
  retry_count: number;
  next_attempt_at: DbTime | null;
  message_id: string;
  envelope_to: string;
  subject: string;
  last_error: string;
}

/** Messages with the given statuses (all when empty) in the queue order of a pass, and how many
 * there are in total, so a truncated list can say so. */
export async function listMessages(
  db: Db,
  statuses: MessageStatus[],
  limit: number,
): Promise<{ rows: MessageListRow[]; total: number }> {
  let query = db.selectFrom("mailer_message");
  if (statuses.length > 0) query = query.where("status", "in", statuses);
  const rows = await query
    .select(["id", "status", "priority", "when_added", "retry_count", "next_attempt_at", "message_id", "envelope_to", "subject", "last_error"])
    .orderBy("priority")
    .orderBy("when_added")
    .orderBy("id")
    .limit(limit)
    .execute();
  const total = await query.select(sql<number>`count(*)`.as("n")).executeTakeFirstOrThrow();
  return { rows: rows.map((r) => ({ ...r, id: Number(r.id) })), total: Number(total.n) };
}

/** Queue rows by id, or by Message-ID (several rows may share one when it was queued twice). */
export async function findMessages(db: Db, key: { id: number } | { messageIds: string[] }) {
  let query = db.selectFrom("mailer_message").selectAll();
  query = "id" in key ? query.where("id", "=", key.id) : query.where("message_id", "in", key.messageIds);
  const rows = await query.orderBy("id").execute();
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** Every log row of a message: by its queue id (kept after the queue row is deleted on success)
 * or by its Message-ID (which also follows it through a re-queue under a new id). */
export async function findLogRows(db: Db, queueIds: number[], messageIds: string[]) {
  if (queueIds.length === 0 && messageIds.length === 0) return [];
  const rows = await db
    .selectFrom("mailer_messagelog")
    .select([
      "id", "queue_id", "message_id", "subject", "envelope_from", "envelope_to", "when_added", "priority",
      "retry_count", "when_attempted", "result", "log_message",
      sql<boolean>`(message_data is not null)`.as("has_message_data"),
    ])
    .where((eb) =>
      eb.or([
        ...(queueIds.length > 0 ? [eb("queue_id", "in", queueIds)] : []),
        ...(messageIds.length > 0 ? [eb("message_id", "in", messageIds)] : []),
      ]),
    )
    .orderBy("when_attempted")
    .orderBy("id")
    .execute();
  return rows.map((r) => ({ ...r, id: Number(r.id), queue_id: r.queue_id === null ? null : Number(r.queue_id), has_message_data: Boolean(r.has_message_data) }));
}

export type LogRowView = Awaited<ReturnType<typeof findLogRows>>[number];
export type MessageRow = Awaited<ReturnType<typeof findMessages>>[number];

export interface MailqRow {
  id: number;
  status: MessageStatus;
  when_added: DbTime;
  size: number;
  envelope_from: string;
  envelope_to: string;
  last_error: string;
  /** Claimed by a worker whose lease runs: being delivered now. */
  active: boolean;
}

/** Every message in the queue for `mailq`, oldest first (Postfix lists its queue in no set order;
 * arrival order reads best). */
export async function mailqRows(db: Db, now: DbTime): Promise<MailqRow[]> {
  const rows = await db
    .selectFrom("mailer_message")
    .select([
      "id", "status", "when_added", "envelope_from", "envelope_to", "last_error",
      sql<number>`length(message_data)`.as("size"),
      sql<number>`case when claimed_by is not null and lease_until > ${now} then 1 else 0 end`.as("active"),
    ])
    .orderBy("when_added")
    .orderBy("id")
    .execute();
  return rows.map((r) => ({ ...r, id: Number(r.id), size: Number(r.size), active: Number(r.active) === 1 }));
}
