// The queue as every enqueue path sees it: the library API, `mailer queue`, sendmail and smtpd.
// It owns one database handle, opened on first use and opened again after a failed attempt, so a
// long-running smtpd recovers when the database comes back.
import type { Kysely } from "kysely";
import type { SendMailOptions } from "nodemailer";
import type { Config } from "../config/types.ts";
import { classifyDatabaseError, type Connection, type Database } from "../db/connect.ts";
import { openCheckedConnection } from "../db/migrate.ts";
import { fromDbTime } from "../db/dialect.ts";
import type { Schema } from "../db/schema.ts";
import { suppressedNow } from "../db/queries/dont-send-state.ts";
import { DataError, TooLargeError, errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseAddressList, parseMailboxes, singleAddress } from "./address.ts";
import { enqueueMessages, type EnqueueOutcome } from "./enqueue.ts";
import { currentUser } from "./host-identity.ts";
import { LocalRouting } from "./local-routing.ts";
import { prepareMessage, type PreparedMessage } from "./prepare.ts";
import { parsePriority, type Priority, type PriorityName } from "./priority.ts";
import { scheduleFrom, type Schedule, type ScheduleInput } from "./schedule.ts";

/** nodemailer loads only when a message is composed; loaded once (an import() per message of a bulk
 * enqueue costs more than composing a simple one). */
let composeModule: Promise<typeof import("./compose.ts")> | null = null;

/** A complete RFC 5322 message; without an envelope, recipients come from To/Cc/Bcc. sendAt,
 * expiresAt and idempotencyKey (as on a nodemailer message) win over the X-Mailer-* headers. */
export interface RawMail extends ScheduleInput {
  raw: string | Uint8Array;
  envelope?: {
    from?: string | false;
    to?: string | string[];
    cc?: string | string[];
    bcc?: string | string[];
  };
}

/** nodemailer message options (composed by nodemailer), or a raw message; either may carry sendAt,
 * expiresAt and idempotencyKey. */
export type MailInput = (SendMailOptions & ScheduleInput) | RawMail;

export interface EnqueueCallOptions extends ScheduleInput {
  /** Wins over the X-Mailer-Priority header and nodemailer's `priority` field. (sendAt, expiresAt and
   * idempotencyKey here win over each message's own; a key is for one message, not a list.) */
  priority?: Priority | PriorityName;
  /** Queue every message of the call in one transaction (all or none), whatever enqueue_batch_size says. */
  oneTransaction?: boolean;
}

export const isRawMail = (mail: MailInput): mail is RawMail =>
  typeof mail.raw === "string" || mail.raw instanceof Uint8Array;

export class Queue {
  readonly config: Config;
  readonly logger: Logger;
  readonly batchSize: number;
  /** Local names ([queue] default_domain, aliases, default_from), the same for every enqueue path. */
  readonly routing: LocalRouting;
  readonly #migrate: boolean;
  #opening: Promise<Connection> | null = null;
  #defaultSender: string | null = null;

  /** `migrate`: apply pending migrations when the database is opened (openQueue's option). */
  constructor(config: Config, logger: Logger, options: { batchSize?: number; migrate?: boolean } = {}) {
    this.config = config;
    this.logger = logger;
    this.batchSize = options.batchSize ?? config.delivery.enqueue_batch_size;
    this.#migrate = options.migrate ?? false;
    this.routing = new LocalRouting(config.queue);
  }

  /** For a message that names no sender: default_from, else this process's login at the mail domain. */
  get defaultSender(): string {
    this.#defaultSender ??= this.routing.defaultFrom || this.routing.qualify(currentUser().login);
    return this.#defaultSender;
  }

  get maxSize(): number {
    return this.config.queue.max_size;
  }

  /** The database with its schema checked; a failed open is retried on the next call. Queueing a
   * message needs no Kysely (connect.ts Connection): a short command never loads it. */
  connection(): Promise<Connection> {
    this.#opening ??= openCheckedConnection(this.config, { migrate: this.#migrate }).catch((error) => {
      this.#opening = null;
      throw error;
    });
    return this.#opening;
  }

  /** connection(), with Kysely. */
  async database(): Promise<Database> {
    return (await this.connection()).database();
  }

  async enqueue(mail: MailInput, options: EnqueueCallOptions = {}): Promise<EnqueueOutcome> {
    const [outcome] = await this.enqueueMany([mail], options);
    return outcome!;
  }

  /** Bulk: every message is validated and composed first (a bad one fails the call before anything is
   * queued), then inserted in transactions of `batchSize` messages. */
  async enqueueMany(list: readonly MailInput[], options: EnqueueCallOptions = {}): Promise<EnqueueOutcome[]> {
    const priority = options.priority === undefined ? undefined : parsePriority(options.priority, "priority");
    if (options.idempotencyKey !== undefined && list.length > 1) {
      throw new DataError("idempotencyKey: one key names one message; give each message of a list its own (its idempotencyKey field)");
    }
    const schedule = scheduleFrom(options);
    const prepared: PreparedMessage[] = [];
    for (const [index, mail] of list.entries()) {
      try {
        prepared.push(isRawMail(mail) ? this.prepareRaw(mail, priority, schedule) : await this.prepare(mail, priority, schedule));
      } catch (error) {
        if (list.length > 1 && error instanceof DataError) {
          const Kind = error instanceof TooLargeError ? TooLargeError : DataError;
          throw new Kind(`message ${index}: ${error.message}`, { cause: error });
        }
        throw error;
      }
    }
    return this.enqueuePrepared(prepared, options.oneTransaction ? prepared.length : undefined);
  }

  /** `schedule`: the caller's, winning over the message's own fields and headers. */
  async prepare(mail: MailInput, priority?: Priority, schedule: Schedule = {}): Promise<PreparedMessage> {
    if (isRawMail(mail)) return this.prepareRaw(mail, priority, schedule);
    composeModule ??= import("./compose.ts");
    const captured = await (await composeModule).composeMail(mail);
    return this.prepareCaptured(captured, priority, schedule);
  }

  /** prepare() for a raw message, which needs no await (a bulk enqueue calls it per message). */
  prepareRaw(mail: RawMail, priority?: Priority, schedule: Schedule = {}): PreparedMessage {
    // A copy of the caller's bytes: the prepared text may be that very array (prepareMessage). As a
    // Buffer (Buffer#slice would not copy), which the header parser reads without wrapping it.
    const raw = typeof mail.raw === "string" ? Buffer.from(mail.raw, "utf8") : Buffer.from(mail.raw);
    const env = mail.envelope ?? {};
    const to = ["to", "cc", "bcc"].flatMap((k) => {
      const v = env[k as "to"];
      // Bare local names stay bare here: prepareMessage routes them (aliases first, then the domain).
      return v === undefined ? [] : parseMailboxes(v, `envelope.${k}`).map((m) => m.address);
    });
    return prepareMessage(raw, {
      envelopeFrom: env.from === false ? "" : env.from === undefined ? undefined : (parseAddressList(env.from, "envelope.from", this.routing.qualify)[0] ?? ""),
      envelopeTo: to.length > 0 ? to : undefined,
      priority,
      schedule: { ...scheduleFrom(mail), ...schedule },
      routing: this.routing,
      defaultSender: this.defaultSender,
      maxSize: this.maxSize,
    });
  }

  prepareCaptured(captured: import("./compose.ts").Captured, priority?: Priority, schedule: Schedule = {}): PreparedMessage {
    return prepareMessage(captured.raw, {
      envelopeFrom: captured.envelopeFrom,
      envelopeTo: captured.envelopeTo,
      priority,
      schedule: { ...captured.schedule, ...schedule },
      fallbackPriority: captured.fallbackPriority,
      routing: this.routing,
      defaultSender: this.defaultSender,
      maxSize: this.maxSize,
    });
  }

  /** One prepared message, for the paths that queue mail one at a time and must refuse it when
   * nothing was queued: SuppressedError when every recipient is on the don't-send list. A duplicate
   * (its idempotency key was queued already) answers with the first message's id. */
  async enqueueOne(message: PreparedMessage): Promise<EnqueueOutcome & { id: number }> {
    const [outcome] = await this.enqueuePrepared([message]);
    if (!outcome || outcome.id === null) throw new SuppressedError(outcome?.suppressed ?? []);
    return { ...outcome, id: outcome.id };
  }

  /** Insert prepared messages, applying the don't-send list; the outcome says what was dropped. */
  async enqueuePrepared(messages: PreparedMessage[], batchSize = this.batchSize): Promise<EnqueueOutcome[]> {
    const options = {
      batchSize: Math.max(1, batchSize),
      logMessageData: this.config.delivery.log_message_data,
      idempotencyWindow: this.config.queue.idempotency_window,
    };
    const outcomes = await this.#use((db) => enqueueMessages(db, messages, options));
    for (const outcome of outcomes) {
      if (outcome.duplicate) this.logger.info("not queued: its idempotency key was queued already", { id: outcome.id, messageId: outcome.messageId });
      if (outcome.suppressed.length === 0) continue;
      const fields = { messageId: outcome.messageId, suppressed: outcome.suppressed.join(", ") };
      if (outcome.id === null) this.logger.info("not queued: every recipient is on the don't-send list", fields);
      else this.logger.info("dropped recipients on the don't-send list", { ...fields, id: outcome.id });
    }
    return outcomes;
  }

  /** Run one statement, turning "database unavailable" into TempFailError. */
  async #use<T>(run: (db: Connection) => Promise<T>): Promise<T> {
    const db = await this.connection();
    try {
      return await run(db);
    } catch (error) {
      throw classifyDatabaseError(error, db.displayUrl) ?? error;
    }
  }

  /** #use, with the don't-send list's statements and Kysely, both loaded on first use (queueing
   * needs neither: connect.ts Connection). */
  #onList<T>(use: (list: typeof import("../db/queries/dont-send.ts"), kysely: Kysely<Schema>) => Promise<T>): Promise<T> {
    return this.#use(async (db) => {
      const [list, { kysely }] = await Promise.all([import("../db/queries/dont-send.ts"), db.database()]);
      return use(list, kysely);
    });
  }

  /** Which of `addresses` are on the don't-send list (lower-cased), for smtpd's RCPT TO. */
  suppressedAmong(addresses: string[]): Promise<Set<string>> {
    return this.#use((db) => suppressedNow(db, addresses));
  }

  /** Put an address ("a@b" or "Name <a@b>") on the don't-send list; false if it was already there. */
  addDontSend(address: string): Promise<boolean> {
    const bare = singleAddress(address);
    return this.#onList((list, kysely) => list.addDontSend(kysely, bare));
  }

  /** Take an address off the list (any case); false if it was not there. */
  removeDontSend(address: string): Promise<boolean> {
    const bare = singleAddress(address);
    return this.#onList((list, kysely) => list.removeDontSend(kysely, bare));
  }

  async listDontSend(): Promise<Array<{ address: string; whenAdded: Date }>> {
    const rows = await this.#onList((list, kysely) => list.listDontSend(kysely));
    return rows.map((r) => ({ address: r.to_address, whenAdded: fromDbTime(r.when_added) }));
  }

  async close(): Promise<void> {
    const opening = this.#opening;
    this.#opening = null;
    if (!opening) return;
    try {
      await (await opening).close();
    } catch (error) {
      this.logger.debug("error while closing the queue", { error: errorText(error) });
    }
  }
}

/** The error a caller gets when every recipient was on the don't-send list (nothing was queued). */
export class SuppressedError extends DataError {
  readonly rejected: string[];
  readonly code = "EDONTSEND";
  constructor(rejected: string[]) {
    super(`not queued: every recipient is on the don't-send list (${rejected.join(", ")})`);
    this.rejected = rejected;
  }
}
