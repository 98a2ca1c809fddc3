// Putting prepared messages on the queue: the don't-send list applied, one transaction per batch.
import type { Connection } from "../db/connect.ts";
import type { DialectInfo } from "../db/dialect.ts";
import { chunks } from "../db/queries/chunks.ts";
import { dontSendListIsEmpty, suppressedAmong } from "../db/queries/dont-send-state.ts";
import { insertLogs, type NewLogRow } from "../db/queries/logs.ts";
import { insertMessages, joinRecipients, type NewMessageRow } from "../db/queries/messages.ts";
import type { Schema } from "../db/schema.ts";
import type { Transaction } from "kysely";
import type { PreparedMessage } from "./prepare.ts";

export interface EnqueueOutcome {
  /** The mailer_message id, or null when every recipient was on the don't-send list. */
  id: number | null;
  messageId: string;
  /** MAIL FROM ("" is the null sender). */
  envelopeFrom: string;
  priority: number;
  /** Recipients that will receive it. */
  recipients: string[];
  /** Recipients dropped because they are on the don't-send list. */
  suppressed: string[];
  /** Its idempotency key was queued already within [queue] idempotency_window: nothing was queued,
   * and `id` is the first message's. */
  duplicate?: boolean;
}

export interface EnqueueOptions {
  /** Messages per INSERT transaction (delivery.enqueue_batch_size). */
  batchSize?: number;
  /** Keep the text in the don't-send log row (delivery.log_message_data). */
  logMessageData?: boolean;
  /** Seconds an idempotency key is remembered ([queue] idempotency_window). */
  idempotencyWindow?: number;
  /** More writes that must commit with each batch's messages, or not at all (the spool importer's ledger). */
  inTransaction?: (trx: Transaction<Schema>, batch: PreparedMessage[]) => Promise<void>;
}

/** A large enqueue_batch_size still stays under every database's bound-parameter limit (SQLite's 32766). */
const ROWS_PER_STATEMENT = 1000;

export async function enqueueMessages(
  db: Connection,
  messages: PreparedMessage[],
  options: EnqueueOptions = {},
): Promise<EnqueueOutcome[]> {
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const checkList = !(await dontSendListIsEmpty(db));
  // A call that is one INSERT statement (one batch of at most ROWS_PER_STATEMENT, the don't-send list
  // empty, no idempotency key, nothing else to write with it) is sent without BEGIN and COMMIT: a
  // statement is just as atomic, and two round trips shorter. (Where MariaDB's packet size splits
  // it, insertRows puts the statements in a transaction itself.) That is the latency of one enqueue()
  // call, and of each group of messages smtpd or the HTTP API commits together (on PostgreSQL, 20
  // kept smtpd sessions went from 4,899 to 5,623 msg/s). It needs no Kysely either: `sendmail -t` on
  // SQLite never loads it (connect.ts Connection). Calls of several batches keep their explicit
  // transaction per batch, where those round trips are noise.
  const oneStatement =
    messages.length <= Math.min(batchSize, ROWS_PER_STATEMENT) &&
    !checkList &&
    !options.inTransaction &&
    messages.every((m) => !m.schedule.idempotencyKey);
  if (oneStatement) {
    const ids = await insertMessages(db, messages.map((m) => messageRow(db.dialect, m, m.envelopeTo)));
    return messages.map((m, i) => outcomeOf(m, ids[i]!, m.envelopeTo, []));
  }
  const { kysely } = await db.database();
  const outcomes: EnqueueOutcome[] = [];
  for (const batch of chunks(messages, batchSize)) {
    outcomes.push(...(await kysely.transaction().execute((trx) => queueBatch(trx, db.dialect, batch, checkList, options))));
  }
  return outcomes;
}

/** One batch in its transaction: the don't-send list applied, idempotency keys taken, a log row for
 * each message with no recipient left. */
async function queueBatch(
  trx: Transaction<Schema>,
  dialect: DialectInfo,
  batch: PreparedMessage[],
  checkList: boolean,
  options: EnqueueOptions,
): Promise<EnqueueOutcome[]> {
  // Loaded with Kysely, as only a transaction's batch uses it: the idempotency ledger.
  const { takeKeys, keyOwners, setKeyOwners } = await import("../db/queries/idempotency.ts");
  const suppressed = checkList ? await suppressedAmong(trx, batch.flatMap((m) => m.envelopeTo)) : new Set<string>();
  const none: string[] = [];
  const split = batch.map((m) =>
    suppressed.size === 0
      ? { message: m, keep: m.envelopeTo, drop: none }
      : {
          message: m,
          keep: m.envelopeTo.filter((a) => !suppressed.has(a.toLowerCase())),
          drop: m.envelopeTo.filter((a) => suppressed.has(a.toLowerCase())),
        },
  );
  const now = new Date();
  const kept = split.filter((s) => s.keep.length > 0);
  // Idempotency keys: the first message of a key in this batch takes it, if it is free; any other
  // message with a taken key is not queued and answers with the id of the key's message.
  const keyOf = (s: (typeof split)[number]) => s.message.schedule.idempotencyKey;
  const firstOfKey = new Map<string, (typeof split)[number]>();
  for (const s of kept) if (keyOf(s) !== undefined && !firstOfKey.has(keyOf(s)!)) firstOfKey.set(keyOf(s)!, s);
  let taken = new Set<string>();
  let owners = new Map<string, number>();
  if (firstOfKey.size > 0) {
    const window = (options.idempotencyWindow ?? 86400) * 1000;
    const cutoff = dialect.toDb(new Date(now.getTime() - window));
    taken = await takeKeys(trx, [...firstOfKey.keys()], cutoff, dialect.toDb(now));
    owners = await keyOwners(trx, [...firstOfKey.keys()].filter((k) => !taken.has(k)));
  }
  const queued = kept.filter((s) => keyOf(s) === undefined || (taken.has(keyOf(s)!) && firstOfKey.get(keyOf(s)!) === s));
  const ids = await insertInChunks(
    trx,
    queued.map(({ message, keep }) => messageRow(dialect, message, keep)),
  );
  const idOf = new Map(queued.map((s, i) => [s, ids[i]!]));
  if (taken.size > 0) {
    await setKeyOwners(trx, [...taken].map((key) => [key, idOf.get(firstOfKey.get(key)!)!]));
    for (const key of taken) owners.set(key, idOf.get(firstOfKey.get(key)!)!);
  }
  const logs: NewLogRow[] = split
    .filter((s) => s.keep.length === 0)
    .map(({ message, drop }) => ({
      queue_id: null,
      message_data: options.logMessageData === false ? null : message.data,
      message_id: message.messageId,
      subject: message.subject,
      envelope_from: message.envelopeFrom,
      envelope_to: joinRecipients(drop),
      when_added: dialect.toDb(now),
      priority: message.priority,
      retry_count: 0,
      result: "dont_send",
      log_message: "every recipient is on the don't-send list; not queued",
    }));
  await insertLogs(trx, logs);
  if (options.inTransaction) await options.inTransaction(trx, batch);
  return split.map((s) => {
    const { message, keep, drop } = s;
    const outcome = outcomeOf(message, idOf.get(s) ?? null, keep, drop);
    if (keep.length > 0 && !idOf.has(s)) {
      outcome.id = owners.get(keyOf(s)!) ?? null;
      outcome.duplicate = true;
    }
    return outcome;
  });
}

/** The mailer_message row of a message, for the recipients that will receive it. */
function messageRow(dialect: DialectInfo, message: PreparedMessage, recipients: string[]): NewMessageRow {
  const time = (date: Date | undefined) => (date ? dialect.toDb(date) : null);
  return {
    message_data: message.data,
    message_id: message.messageId,
    subject: message.subject,
    envelope_from: message.envelopeFrom,
    envelope_to: joinRecipients(recipients),
    priority: message.priority,
    next_attempt_at: time(message.schedule.sendAt),
    expires_at: time(message.schedule.expiresAt),
  };
}

const outcomeOf = (message: PreparedMessage, id: number | null, recipients: string[], suppressed: string[]): EnqueueOutcome => ({
  id,
  messageId: message.messageId,
  envelopeFrom: message.envelopeFrom,
  priority: message.priority,
  recipients,
  suppressed,
});

async function insertInChunks(trx: Transaction<Schema>, rows: NewMessageRow[]): Promise<number[]> {
  const ids: number[] = [];
  for (const part of chunks(rows, ROWS_PER_STATEMENT)) ids.push(...(await insertMessages(trx, part)));
  return ids;
}
