// insert-rows.ts writes its multi-row INSERTs itself (a Connection without Kysely runs them). They
// must be the very text each database's own Kysely compiled for them before, so drivers find the same
// prepared statements and the parameters bind in the same order.
import { afterEach, beforeEach, expect } from "bun:test";
import type { Database } from "../../src/db/connect.ts";
import { insertSql } from "../../src/db/queries/insert-rows.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { dialectAvailable, forEachDialect } from "../helpers/dialects.ts";

const MESSAGE = ["message_data", "message_id", "subject", "envelope_from", "envelope_to", "priority", "next_attempt_at", "expires_at"];
const LOG = ["queue_id", "message_data", "message_id", "subject", "envelope_from", "envelope_to", "when_added", "priority", "retry_count", "result", "log_message"];

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let db: Database;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect);
    db = await tq.db();
  });
  afterEach(() => tq?.cleanup());

  /** What Kysely compiles for `count` rows of `columns`, each value a distinct marker, in order. */
  function kyselys(table: string, columns: string[], count: number, returning?: string) {
    const rows = Array.from({ length: count }, (_, r) => Object.fromEntries(columns.map((c, i) => [c, `${r}:${i}`])));
    const insert = db.kysely.insertInto(table as never).values(rows as never);
    return (returning ? insert.returning(returning as never) : insert).compile();
  }

  it("the INSERT text is Kysely's, to the byte, for every shape the queue writes", () => {
    const shapes: Array<[string, string[], number, string | undefined]> = [
      ["mailer_message", MESSAGE, 1, "id"],
      ["mailer_message", MESSAGE, 3, "id"],
      ["mailer_message", MESSAGE, 1000, "id"],
      ["mailer_messagelog", LOG, 1, undefined],
      ["mailer_messagelog", LOG, 500, undefined],
      // Quote characters of every dialect inside names are doubled as Kysely doubles them.
      ['odd"table`', ['a"b', "c`d", "plain"], 2, 'r"e`t'],
    ];
    for (const [table, columns, count, returning] of shapes) {
      const compiled = kyselys(table, columns, count, returning);
      expect(insertSql(db.dialect, table, columns, count, returning)).toBe(compiled.sql);
      // Kysely's parameters come row by row in column order, as insertRows lays them out.
      expect(compiled.parameters).toEqual(Array.from({ length: count * columns.length }, (_, n) => `${Math.floor(n / columns.length)}:${n % columns.length}`));
    }
  });

  it("a shape asked for again is the same text, and a different count a different one", () => {
    const one = insertSql(db.dialect, "mailer_message", MESSAGE, 2, "id");
    expect(insertSql(db.dialect, "mailer_message", MESSAGE, 2, "id")).toBe(one);
    expect(insertSql(db.dialect, "mailer_message", MESSAGE, 3, "id")).not.toBe(one);
    expect(insertSql(db.dialect, "mailer_message", MESSAGE, 2, undefined)).toBe(kyselys("mailer_message", MESSAGE, 2).sql);
  });
});
