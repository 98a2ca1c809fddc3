// The don't-send list as of the moment a message is sent (SPEC §4.6), not as of its batch's claim.
//
// A batch is claimed with the list's change counter and the listed recipients among its rows. As
// each message's SMTP transaction starts, the check is asked for; the counter is read by a statement
// that begins after that asking and is answered before the message's text goes out (the transaction's
// envelope runs meanwhile: attempt.ts). Unchanged (the usual case), the batch's lookup still holds;
// moved, this message's recipients are looked up afresh.
//
// On a server, readings are shared (queue/shared-runs.ts), and started on demand: the next reading
// waits until a send needs its answer (its text is due) or until as many sends as the pool holds have
// asked, so the sends that start during one envelope's round trip share one reading. Started at once
// instead, a pool of four shared a reading between 1.5 sends, and the readings cost a PostgreSQL
// drain a quarter of its rate. Never a stale answer: a reading serves only those who asked before it
// began. Each goes straight to a pooled connection (connect.ts executeQuery), not through Kysely.
// On SQLite the counter is read synchronously on the spot, which is after the asking by definition.
import { classifyDatabaseError, type Database } from "../db/connect.ts";
import { dontSendVersion, dontSendVersionNow, suppressedAmong } from "../db/queries/dont-send-state.ts";
import type { ClaimedRow } from "../db/queries/claims.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import { SharedRuns } from "../queue/shared-runs.ts";
import { OnDemand, type Answer } from "./on-demand.ts";

/** The list as a batch was claimed: its listed recipients (lower-cased), and the counter then. */
export interface DontSendSnapshot {
  suppressed: Set<string>;
  version: number;
}

export class DontSendCheck {
  readonly #db: Database;
  /** The counter as read by a statement that started after the asking. A reading begins when a send
   * needs its answer, or once as many sends as the pool holds have asked (nobody else can join). */
  readonly #versions: SharedRuns<null, number>;

  constructor(db: Database, pool = 1) {
    this.#db = db;
    this.#versions = new SharedRuns(
      async (askers) => {
        const version = await dontSendVersion(db);
        return askers.map(() => version);
      },
      { ready: (waiting) => waiting >= pool },
    );
  }

  /** Asks, now, for the recipients of `row` on the list (lower-cased). On a server the answer is read
   * when it is awaited; on SQLite, at once. A database that fails here fails as database errors do
   * (TempFailError: the worker waits and tries again), not as a bug. */
  ask(row: ClaimedRow, batch: DontSendSnapshot): Answer<Set<string>> {
    const sqlite = this.#db.sqlite;
    if (sqlite) return this.#answer(row, batch, () => dontSendVersionNow(sqlite));
    const asked = this.#versions.ask(null);
    // Its failure is told to whoever awaits the answer; a send that ended before it did not.
    asked.answer.catch(() => {});
    return new OnDemand(() => {
      asked.need();
      return this.#answer(row, batch, () => asked.answer);
    });
  }

  async #answer(row: ClaimedRow, batch: DontSendSnapshot, read: () => number | Promise<number>): Promise<Set<string>> {
    try {
      if ((await read()) === batch.version) return batch.suppressed;
      return await suppressedAmong(this.#db, splitRecipients(row.envelope_to));
    } catch (error) {
      throw classifyDatabaseError(error, this.#db.displayUrl) ?? error;
    }
  }
}
