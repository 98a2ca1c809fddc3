// The two statements a pass makes per batch — claim it, record its outcomes — behind one small
// interface, so that they can run on this thread (localStore) or on a worker thread of their own
// (offthread-store.ts) while this one keeps the SMTP connections busy.
import type { Database } from "../db/connect.ts";
import { claimBatch, recordBatch, type BatchRecord, type ClaimedRow } from "../db/queries/claims.ts";
import { suppressedAmong } from "../db/queries/dont-send-state.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import type { DontSendSnapshot } from "./dont-send-check.ts";

export interface ClaimedBatch {
  /** In queue order. */
  rows: ClaimedRow[];
  /** The lower-cased recipients of those rows that are on the don't-send list, and its counter. */
  dontSend: DontSendSnapshot;
}

export interface BatchStore {
  /** Claims up to `size` messages for the pass's worker identity, leased until `leaseUntil`. */
  claim(size: number, now: Date, leaseUntil: Date): Promise<ClaimedBatch>;
  /** Writes a batch's outcomes in one transaction (claims.ts recordBatch). */
  record(record: BatchRecord): Promise<void>;
  close(): Promise<void>;
}

/** `only`: claim among these message ids alone (PassOptions.only). */
export function localStore(db: Database, worker: string, only?: readonly number[]): BatchStore {
  return {
    async claim(size, now, leaseUntil) {
      const { rows, dontSendListed, dontSendVersion: version } = await claimBatch(db, worker, size, now, leaseUntil, only);
      if (!dontSendListed) return { rows, dontSend: { suppressed: new Set(), version } };
      try {
        const suppressed = await suppressedAmong(db, rows.flatMap((r) => splitRecipients(r.envelope_to)));
        return { rows, dontSend: { suppressed, version } };
      } catch (error) {
        // Nothing was sent yet: give the batch back.
        await recordBatch(db, worker, { logs: [], remove: [], change: [], release: rows.map((r) => r.id) }).catch(() => {});
        throw error;
      }
    },
    record: (record) => recordBatch(db, worker, record),
    close: async () => {},
  };
}
