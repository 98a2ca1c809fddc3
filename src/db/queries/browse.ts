// Read-only statements behind the console's pages: the message list and the log with keyset
// pagination (a page costs the same at row 1,000,000 as at row 1), the activity chart and the claim
// holders. Nothing here writes.
import { sql, type ExpressionBuilder, type Kysely } from "kysely";
import type { DialectInfo } from "../dialect.ts";
import type { DbTime, LogResult, MessageStatus, Schema } from "../schema.ts";
import type { MessageListRow } from "./inspect.ts";
import { sqlOf } from "../dialect-sql.ts";

type Db = Kysely<Schema>;

/** "queue": the order a pass sends in (priority, age); "oldest"/"newest": by queue id, which is
 * arrival order. With one state chosen, "queue" walks the queue index; with none, the id orders walk
 * the primary key: each page reads about as many rows as it shows. */
export type MessageOrder = "queue" | "oldest" | "newest";

export interface MessageFilter {
  status: MessageStatus | null;
  priority: 1 | 2 | 3 | null;
  /** Recipient, sender, subject or Message-ID (part of one, any case); "<id@host>" matches a Message-ID exactly. */
  q: string;
}

/** Where the previous page ended: the sort key of its last row. */
export type MessageCursor = { priority: number; when_added: string; id: number } | { id: number };

export interface Page<Row, Cursor> {
  rows: Row[];
  /** The cursor of the next page, or null on the last one. */
  next: Cursor | null;
}

const LIST_COLUMNS = [
  "id", "status", "priority", "when_added", "retry_count", "next_attempt_at", "message_id", "envelope_to", "subject", "last_error",
  "envelope_from", "claimed_by", "lease_until",
] as const;

export type BrowsedMessage = MessageListRow & { envelope_from: string; claimed_by: string | null; lease_until: DbTime | null };

/** `%text%` for LIKE, lower-cased, with LIKE's own wildcards taken literally. */
const containsPattern = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => "\\" + c)}%`;
const exactMessageId = (q: string) => (/^<[^<>\s]+>$/.test(q) ? q : null);

function contains(column: string, pattern: string) {
  // A literal the dialect writes (a backslash is '\' on PostgreSQL and SQLite, '\\' on MariaDB).
  return sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape ${sql.lit("\\")}`;
}

function messageWhere(filter: MessageFilter) {
  return (eb: ExpressionBuilder<Schema, "mailer_message">) => {
    const terms = [];
    if (filter.status) terms.push(eb("status", "=", filter.status));
    if (filter.priority) terms.push(eb("priority", "=", filter.priority));
    const q = filter.q.trim();
    const exact = exactMessageId(q);
    if (exact) terms.push(eb("message_id", "=", exact));
    else if (q !== "") {
      const pattern = containsPattern(q);
      terms.push(eb.or(["envelope_to", "envelope_from", "subject", "message_id"].map((c) => contains(c, pattern))));
    }
    return eb.and(terms);
  };
}

export async function browseMessages(
  db: Db,
  dialect: DialectInfo,
  filter: MessageFilter,
  order: MessageOrder,
  after: MessageCursor | null,
  limit: number,
): Promise<Page<BrowsedMessage, MessageCursor>> {
  let query = db.selectFrom("mailer_message").select([...LIST_COLUMNS]).where(messageWhere(filter));
  if (order === "queue") {
    if (after && "priority" in after) {
      const at = dialect.toDb(new Date(after.when_added));
      query = query.where((eb) => eb(eb.refTuple("priority", "when_added", "id"), ">", eb.tuple(after.priority, at, after.id)));
    }
    query = query.orderBy("priority").orderBy("when_added").orderBy("id");
  } else {
    if (after) query = query.where("id", order === "oldest" ? ">" : "<", after.id);
    query = query.orderBy("id", order === "oldest" ? "asc" : "desc");
  }
  // One row more than shown says whether there is a next page, without counting.
  const found = await query.limit(limit + 1).execute();
  const rows = found.slice(0, limit).map((r) => ({ ...r, id: Number(r.id) }));
  const last = rows.at(-1);
  const next: MessageCursor | null =
    found.length <= limit || !last
      ? null
      : order === "queue"
        ? { priority: last.priority, when_added: new Date(last.when_added).toISOString(), id: last.id }
        : { id: last.id };
  return { rows, next };
}

/** Ids of the messages matching a filter, in id order from `afterId`: "all matching" actions walk
 * them a chunk at a time rather than holding a million ids at once. */
export async function matchingIds(db: Db, filter: MessageFilter, afterId: number, limit: number): Promise<number[]> {
  const rows = await db
    .selectFrom("mailer_message")
    .select("id")
    .where(messageWhere(filter))
    .where("id", ">", afterId)
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map((r) => Number(r.id));
}

export interface LogFilter {
  result: LogResult | null;
  since: Date | null;
  until: Date | null;
  /** Recipient (part of one, any case) or "<id@host>" for a Message-ID. */
  q: string;
}

export async function browseLog(db: Db, dialect: DialectInfo, filter: LogFilter, beforeId: number | null, limit: number) {
  let query = db
    .selectFrom("mailer_messagelog")
    .select([
      "id", "queue_id", "message_id", "subject", "envelope_from", "envelope_to", "priority", "retry_count", "when_added",
      "when_attempted", "result", "log_message",
    ]);
  if (filter.result) query = query.where("result", "=", filter.result);
  if (filter.since) query = query.where("when_attempted", ">=", dialect.toDb(filter.since));
  if (filter.until) query = query.where("when_attempted", "<", dialect.toDb(filter.until));
  const q = filter.q.trim();
  const exact = exactMessageId(q);
  if (exact) query = query.where("message_id", "=", exact);
  else if (q !== "") query = query.where(contains("envelope_to", containsPattern(q)));
  if (beforeId !== null) query = query.where("id", "<", beforeId);
  const found = await query.orderBy("id", "desc").limit(limit + 1).execute();
  const rows = found.slice(0, limit).map((r) => ({ ...r, id: Number(r.id), queue_id: r.queue_id === null ? null : Number(r.queue_id) }));
  return { rows, next: found.length > limit ? rows.at(-1)!.id : null };
}

export type BrowsedLogRow = Awaited<ReturnType<typeof browseLog>>["rows"][number];

export async function logRowById(db: Db, id: number) {
  const row = await db.selectFrom("mailer_messagelog").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? { ...row, id: Number(row.id), queue_id: row.queue_id === null ? null : Number(row.queue_id) } : null;
}

/** The newest log row of a queue id that kept the message text: a delivered message's body. */
export async function loggedMessageData(db: Db, queueId: number): Promise<Uint8Array | null> {
  const row = await db
    .selectFrom("mailer_messagelog")
    .select("message_data")
    .where("queue_id", "=", queueId)
    .where("message_data", "is not", null)
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.message_data ?? null;
}

export interface ActivityBucket {
  /** UTC "YYYY-MM-DDTHH:MM" (minutes) or "YYYY-MM-DDTHH" (hours). */
  bucket: string;
  result: LogResult;
  n: number;
}

/** Log rows since `since`, counted per minute or hour and result (the dashboard's chart). */
export async function logActivity(db: Db, dialect: DialectInfo, since: Date, unit: "minute" | "hour"): Promise<ActivityBucket[]> {
  const bucket = sqlOf(dialect).bucket("when_attempted", unit);
  const rows = await db
    .selectFrom("mailer_messagelog")
    .select([bucket.as("bucket"), "result", sql<number>`count(*)`.as("n")])
    .where("when_attempted", ">=", dialect.toDb(since))
    .groupBy([bucket, "result"])
    .execute();
  return rows.map((r) => ({ bucket: String(r.bucket), result: r.result, n: Number(r.n) }));
}

/** Each worker holding claims: how many messages and until when (backed by the partial index). */
export async function claimHolders(db: Db) {
  const rows = await db
    .selectFrom("mailer_message")
    .select(["claimed_by", sql<number>`count(*)`.as("n"), sql<DbTime | null>`max(lease_until)`.as("lease_until")])
    .where("claimed_by", "is not", null)
    .groupBy("claimed_by")
    .orderBy("claimed_by")
    .execute();
  return rows.map((r) => ({ worker: r.claimed_by!, messages: Number(r.n), leaseUntil: r.lease_until }));
}
