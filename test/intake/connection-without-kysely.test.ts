// Every database opens as a Connection without Kysely (connect.ts): queueing a message with the
// don't-send list empty needs none, and the first thing that does need it loads it over the same
// driver. A statement written out gives the result Kysely would give for it. On SQLite, once Kysely is
// loaded, a statement on the connection waits for a transaction of Kysely's instead of joining it.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { CompiledQuery } from "kysely";
import { databaseOf, openConnection, type Connection } from "../../src/db/connect.ts";
import { openQueue, type Queue } from "../../src/index.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";

const RAW = "From: a@example.com\r\nTo: b@example.com\r\nSubject: lean\r\n\r\nhello\r\n";

const raw = ({ sql, parameters }: { sql: string; parameters: unknown[] }) => CompiledQuery.raw(sql, parameters);

/** Counts the calls that bring Kysely in on this connection. */
function countUpgrades(connection: Connection): { readonly count: number } {
  const upgrade = connection.database.bind(connection);
  const counter = { count: 0 };
  connection.database = () => {
    counter.count++;
    return upgrade();
  };
  return counter;
}

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let queue: Queue;
  beforeEach(async () => {
    tq = await testQueue(dialect);
    queue = await openQueue({ config: tq.config });
  });
  afterEach(async () => {
    await queue?.close();
    await tq?.cleanup();
  });

  it("queues messages without Kysely while the don't-send list is empty, and with it once the list holds an address", async () => {
    const upgrades = countUpgrades(await queue.connection());
    const first = await queue.enqueue({ raw: RAW });
    const [second, third] = await queue.enqueueMany([{ raw: RAW }, { raw: RAW }]);
    expect(upgrades.count).toBe(0);
    expect(await queue.suppressedAmong(["b@example.com"])).toEqual(new Set());
    expect(upgrades.count).toBe(0);

    await queue.addDontSend("gone@example.com");
    const kept = await queue.enqueue({ raw: RAW.replace("To: b@example.com", "To: b@example.com, gone@example.com") });
    expect(upgrades.count).toBeGreaterThan(0);
    expect(kept.recipients).toEqual(["b@example.com"]);
    expect(kept.suppressed).toEqual(["gone@example.com"]);

    const rows = await tq.rows();
    expect(rows.map((r) => r.id)).toEqual([first.id, second!.id, third!.id, kept.id] as number[]);
    expect(rows.map((r) => r.envelopeTo)).toEqual([["b@example.com"], ["b@example.com"], ["b@example.com"], ["b@example.com"]]);
  });

  it("an idempotency key brings Kysely in (its check and the insert share a transaction)", async () => {
    const upgrades = countUpgrades(await queue.connection());
    const first = await queue.enqueue({ raw: RAW }, { idempotencyKey: "k1" });
    const again = await queue.enqueue({ raw: RAW }, { idempotencyKey: "k1" });
    expect(upgrades.count).toBeGreaterThan(0);
    expect(again).toMatchObject({ id: first.id, duplicate: true });
    expect(await tq.rows()).toHaveLength(1);
  });

  it("a statement written out gives what Kysely gives for it: rows, and the counts of a change", async () => {
    const connection = await queue.connection();
    const { kysely } = await queue.database();
    const q = connection.dialect.quote;
    const p = (n: number) => connection.dialect.parameter(n);
    const insert = (subject: string) => ({
      sql: `insert into mailer_message (${["message_data", "message_id", "subject", "envelope_from", "envelope_to"].map(q).join(", ")}) values (${[1, 2, 3, 4, 5].map(p).join(", ")})`,
      parameters: [new Uint8Array([120]), `<${subject}@test>`, subject, "a@example.com", "b@example.com"],
    });
    const written = await connection.executeQuery(insert("written"));
    const through = await kysely.executeQuery(raw(insert("through")));
    expect(written.rows).toEqual([]);
    expect(written.numAffectedRows).toEqual(through.numAffectedRows);
    const select = { sql: `select ${q("subject")} from mailer_message order by ${q("id")}`, parameters: [] };
    expect((await connection.executeQuery(select)).rows).toEqual([{ subject: "written" }, { subject: "through" }]);
    expect((await connection.executeQuery(select)).rows).toEqual((await kysely.executeQuery(raw(select))).rows);
  });
});

describe("an SQLite connection (one connection) with Kysely loaded", () => {
  let tq: TestQueue;
  let connection: Connection;
  beforeEach(async () => {
    tq = await testQueue("sqlite");
    connection = await openConnection(tq.url);
  });
  afterEach(async () => {
    await connection?.close();
    await tq?.cleanup();
  });

  test("a statement made while a transaction is open waits for it, and is not rolled back with it", async () => {
    const { kysely } = await connection.database();
    const row = (subject: string) => ({
      message_data: new Uint8Array([120]),
      message_id: `<${subject}@test>`,
      subject,
      envelope_from: "a@example.com",
      envelope_to: "b@example.com",
      priority: 2,
    });
    const insert = (subject: string) => {
      const columns = Object.keys(row(subject));
      return { sql: `insert into mailer_message (${columns.join(", ")}) values (${columns.map(() => "?").join(", ")})`, parameters: Object.values(row(subject)) };
    };
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inTransaction!: () => void;
    const begun = new Promise<void>((resolve) => (inTransaction = resolve));
    const transaction = kysely
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto("mailer_message").values(row("rolled back")).execute();
        inTransaction();
        await held;
        throw new Error("roll back");
      })
      .catch((error: Error) => error.message);
    await begun;
    let done = false;
    const outside = connection.executeQuery(insert("outside")).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false);
    release();
    expect(await transaction).toBe("roll back");
    await outside;
    expect((await tq.rows()).map((r) => r.subject)).toEqual(["outside"]);
  });
});

forEachDialect((dialect, it) => {
  it("a connection that cannot load Kysely is closed, and the error is the caller's", async () => {
    const tq = await testQueue(dialect);
    try {
      const connection = await openConnection(tq.url);
      let closed = 0;
      const close = connection.close.bind(connection);
      connection.close = () => {
        closed++;
        return close();
      };
      connection.database = () => Promise.reject(new Error("kysely-over.ts could not be loaded"));
      await expect(databaseOf(connection)).rejects.toThrow("kysely-over.ts could not be loaded");
      expect(closed).toBe(1);
      // Closed for real: the driver refuses statements.
      await expect(connection.executeQuery({ sql: "select 1", parameters: [] })).rejects.toThrow();
    } finally {
      await tq.cleanup();
    }
  });
});
