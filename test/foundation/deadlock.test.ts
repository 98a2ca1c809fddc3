// retryDeadlocks runs a deadlock's victim again and nothing else. On PostgreSQL and MariaDB a real
// deadlock is made (two transactions, each locking a row the other then wants), to show that the error
// a victim gets through Kysely and our pools is one isDeadlock knows, and that run again it commits.
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { isDeadlock, retryDeadlocks } from "../../src/db/deadlock.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { testFor } from "../helpers/dialects.ts";
import { testDatabase } from "../helpers/db.ts";

describe("retryDeadlocks", () => {
  const victim = (code: string) => Object.assign(new Error("Deadlock found when trying to get lock; try restarting transaction"), { code });

  test("a victim (MariaDB's or PostgreSQL's code) is run again; what it then returns is the answer", async () => {
    for (const code of ["ER_LOCK_DEADLOCK", "40P01"]) {
      let runs = 0;
      const result = await retryDeadlocks(async () => {
        if (++runs === 1) throw victim(code);
        return "committed";
      });
      expect([result, runs]).toEqual(["committed", 2]);
    }
  });

  test("any other error fails at once, and a victim every time fails after the last attempt", async () => {
    let runs = 0;
    const other = Object.assign(new Error("duplicate key"), { code: "ER_DUP_ENTRY" });
    await expect(retryDeadlocks(async () => {
      runs++;
      throw other;
    })).rejects.toBe(other);
    expect(runs).toBe(1);

    runs = 0;
    await expect(retryDeadlocks(async () => {
      runs++;
      throw victim("40P01");
    }, 3)).rejects.toMatchObject({ code: "40P01" });
    expect(runs).toBe(3);
    expect(isDeadlock(null)).toBe(false);
  });
});

for (const dialect of ["postgres", "mariadb"] as const) {
  describe(dialect, () => {
    testFor(dialect)("a real deadlock: the victim's error is a deadlock, and run again it commits", async () => {
      const database = await testDatabase(dialect);
      const a = await openDatabase(database.url);
      const b = await openDatabase(database.url);
      try {
        await migrateToLatest(a);
        await sql`insert into mailer_counter (name, value) values ('deadlock-a', 0), ('deadlock-b', 0)`.execute(a.kysely);
        // One-shot meeting points: each side waits until the other holds its first row.
        let aHolds!: () => void;
        let bHolds!: () => void;
        const aHolding = new Promise<void>((resolve) => (aHolds = resolve));
        const bHolding = new Promise<void>((resolve) => (bHolds = resolve));
        const errors: unknown[] = [];
        const side = (db: Database, first: string, second: string, holds: () => void, other: Promise<void>) =>
          retryDeadlocks(() =>
            db.kysely.transaction().execute(async (trx) => {
              await sql`update mailer_counter set value = value + 1 where name = ${first}`.execute(trx);
              holds();
              await other;
              await sql`update mailer_counter set value = value + 1 where name = ${second}`.execute(trx);
            }).catch((error) => {
              errors.push(error);
              throw error;
            }),
          );
        await Promise.all([side(a, "deadlock-a", "deadlock-b", aHolds, bHolding), side(b, "deadlock-b", "deadlock-a", bHolds, aHolding)]);
        expect(errors.length).toBe(1);
        expect(isDeadlock(errors[0])).toBe(true);
        // Both committed in the end: every row bumped once by each side, none lost with the victim.
        const rows = await sql<{ name: string; value: number }>`select name, value from mailer_counter where name like 'deadlock-%' order by name`.execute(a.kysely);
        expect(rows.rows.map((r) => [r.name, Number(r.value)])).toEqual([["deadlock-a", 2], ["deadlock-b", 2]]);
      } finally {
        await a.close();
        await b.close();
        await database.cleanup();
      }
    }, 30_000);
  });
}
