// The don't-send list as of the moment a message is sent (SPEC §4.6), not as of its batch's claim.
//
// A batch is claimed with the list's change counter and the listed recipients among its rows. Right
// before each message's SMTP transaction the counter is read again: unchanged (the usual case), the
// batch's lookup still holds; moved, this message's recipients are looked up afresh. On a server,
// reads are shared (queue/shared-runs.ts): sends starting together wait for one read that began after
// all of them asked, so a pool of N connections costs about one small read per send at most, never a
// stale answer; each goes straight to a pooled connection (connect.ts executeQuery), not through
// Kysely. On SQLite the counter is read synchronously on the spot, which is after the send asked by
// definition.
import { classifyDatabaseError, type Database } from "../db/connect.ts";
import { dontSendVersion, dontSendVersionNow, suppressedAmong } from "../db/queries/dont-send-state.ts";
import type { ClaimedRow } from "../db/queries/claims.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import { SharedRuns } from "../queue/shared-runs.ts";

/** The list as a batch was claimed: its listed recipients (lower-cased), and the counter then. */
export interface DontSendSnapshot {
  suppressed: Set<string>;
  version: number;
}

export class DontSendCheck {
  readonly #db: Database;
  /** The counter as read by a statement that started after the asking. */
  readonly #versions: SharedRuns<null, number>;

  constructor(db: Database) {
    this.#db = db;
    this.#versions = new SharedRuns(async (askers) => {
      const version = await dontSendVersion(db);
      return askers.map(() => version);
    });
  }

  /** The recipients of `row` on the list now (lower-cased). A database that fails here fails as
   * database errors do (TempFailError: the worker waits and tries again), not as a bug. */
  async listedFor(row: ClaimedRow, batch: DontSendSnapshot): Promise<Set<string>> {
    try {
      const sqlite = this.#db.sqlite;
      const version = sqlite ? dontSendVersionNow(sqlite) : await this.#versions.request(null);
      if (version === batch.version) return batch.suppressed;
      return await suppressedAmong(this.#db, splitRecipients(row.envelope_to));
    } catch (error) {
      throw classifyDatabaseError(error, this.#db.displayUrl) ?? error;
    }
  }
}
