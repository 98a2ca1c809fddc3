// The expiry sweep (expiry.ts) beside other transactions on the databases with row locks: a claim in
// flight does not hide an expired message from it, a claim made while it runs keeps its message, and a
// sweep that is a deadlock's victim runs again.
import { afterEach, expect } from "bun:test";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { expireDue } from "../../src/db/queries/expiry.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, firstTransactionADeadlockVictim, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
let other: Database | null = null;
afterEach(async () => {
  await other?.close();
  other = null;
  await b?.cleanup();
  b = null;
});

const later = (ms: number) => new Date(Date.now() + ms);

/** Runs `work` in a transaction on `db` and keeps it open until the returned function is called. */
async function openTransaction(db: Database, work: (trx: Database["kysely"]) => Promise<unknown>) {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  let started!: () => void;
  const begun = new Promise<void>((resolve) => (started = resolve));
  const done = db.kysely.transaction().execute(async (trx) => {
    await work(trx);
    started();
    await ended;
  });
  done.catch(started);
  await begun;
  return async () => {
    end();
    await done;
  };
}

forEachDialect(
  (dialect, it) => {
    it("a claim in flight that read an expired message without taking it does not hide it from the sweep", async () => {
      b = await bench(dialect);
      const stale = await b.enqueue({ subject: "stale" });
      await b.enqueue({ subject: "fresh" });
      await b.db.kysely.updateTable("mailer_message").set({ expires_at: b.db.dialect.toDb(later(-1000)) }).where("id", "=", stale).execute();
      other = await openDatabase(b.url);
      // A claim's locking read in queue order: it reads the expired row and passes over it.
      const commit = await openTransaction(other, (trx) =>
        trx.selectFrom("mailer_message").select("id").where("status", "=", "queued").where("expires_at", "is", null)
          .orderBy("priority").orderBy("when_added").orderBy("id").limit(100).forUpdate().skipLocked().execute(),
      );
      const sweep = expireDue(b.db, new Date(), false);
      await Bun.sleep(200);
      await commit();
      expect(await sweep).toBe(1);
      expect((await b.logs()).map((l) => [l.subject, l.result])).toEqual([["stale", "expired"]]);
      expect((await b.messages()).map((m) => m.subject)).toEqual(["fresh"]);
    });

    it("an expired message claimed while the sweep waits is left to its claimant", async () => {
      b = await bench(dialect);
      const stale = await b.enqueue({ subject: "stale" });
      await b.db.kysely.updateTable("mailer_message").set({ expires_at: b.db.dialect.toDb(later(-1000)) }).where("id", "=", stale).execute();
      other = await openDatabase(b.url);
      const lease = { claimed_by: "far:1:a", lease_until: b.db.dialect.toDb(later(60_000)) };
      const commit = await openTransaction(other, (trx) => trx.updateTable("mailer_message").set(lease).where("id", "=", stale).execute());
      const sweep = expireDue(b.db, new Date(), false);
      await Bun.sleep(200);
      await commit();
      expect(await sweep).toBe(0);
      expect(await b.logs()).toEqual([]);
      expect((await b.messages()).map((m) => [m.subject, m.claimed_by])).toEqual([["stale", "far:1:a"]]);
    });

    it("a sweep chosen as a deadlock's victim (as beside a batch's record on MariaDB) is run again at once, not left for a later pass", async () => {
      b = await bench(dialect);
      const stale = await b.enqueue({ subject: "stale" });
      await b.db.kysely.updateTable("mailer_message").set({ expires_at: b.db.dialect.toDb(later(-1000)) }).where("id", "=", stale).execute();
      const transactions = firstTransactionADeadlockVictim(b.db, dialect);
      expect(await expireDue(b.db, new Date(), false)).toBe(1);
      expect(transactions.begun).toBe(2);
      expect((await b.logs()).map((l) => [l.subject, l.result])).toEqual([["stale", "expired"]]);
      expect(await b.messages()).toEqual([]);
    });
  },
  ["postgres", "mariadb"],
);

forEachDialect(
  (dialect, it) => {
    it("with nothing due the sweep only reads: it runs while another connection holds the write lock, which it needs once a message is due", async () => {
      b = await bench(dialect);
      const fresh = await b.enqueue({ subject: "fresh" });
      await b.db.kysely.updateTable("mailer_message").set({ expires_at: b.db.dialect.toDb(later(3600_000)) }).where("id", "=", fresh).execute();
      // SQLite has one writer at a time: a transaction that has written holds the whole file. (Its
      // busy wait blocks this thread, so the holder cannot let go while the sweep waits: a short one.)
      other = await openDatabase(b.url);
      const sweeper = await openDatabase(b.url, { busyTimeout: 100 });
      try {
        const holdWrite = () => openTransaction(other!, (trx) => trx.updateTable("mailer_message").set({ subject: "fresh" }).where("id", "=", fresh).execute());
        let commit = await holdWrite();
        expect(await expireDue(sweeper, new Date(), false)).toBe(0);
        await commit();

        const stale = await b.enqueue({ subject: "stale" });
        await b.db.kysely.updateTable("mailer_message").set({ expires_at: b.db.dialect.toDb(later(-1000)) }).where("id", "=", stale).execute();
        commit = await holdWrite();
        await expect(expireDue(sweeper, new Date(), false)).rejects.toThrow(/locked/);
        await commit();
        expect(await expireDue(sweeper, new Date(), false)).toBe(1);
        expect((await b.logs()).map((l) => [l.subject, l.result])).toEqual([["stale", "expired"]]);
      } finally {
        await sweeper.close();
      }
    });
  },
  ["sqlite"],
);
