// The MariaDB connections Kysely runs on (src/db/mariadb-pool.ts) when the server ends one: a
// transaction whose connection was killed fails with an error the engine treats as temporary (it
// waits and tries again), never with mysql2's "closed state" answer to Kysely's rollback, which the
// engine would take for a bug (a runmailer died of it during a database restart in CI).
import { afterEach, expect, test } from "bun:test";
import { sql } from "kysely";
import { classifyDatabaseError } from "../../src/db/connect.ts";
import { CLOSED_STATE_MESSAGE } from "../../src/db/classify-error.ts";
import { PreparedConnection } from "../../src/db/mariadb-pool.ts";
import { TempFailError } from "../../src/errors.ts";
import { testFor } from "../helpers/dialects.ts";
import { mariadbAdmin, openFreshDatabase } from "../helpers/db.ts";

const it = testFor("mariadb");
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});

it("a connection killed mid-transaction: the transaction fails as temporary, not with the rollback's 'closed state'; the next ones succeed", async () => {
  const db = await openFreshDatabase("mariadb", cleanups);
  await sql`create table t (n int)`.execute(db.kysely);
  /** A transaction that inserts a row, has its connection killed (during its next statement, or
   * before it), and goes on with `next`; what it fails with. */
  const killed = (during: boolean) =>
    db.kysely
      .transaction()
      .execute(async (trx) => {
        await sql`insert into t values (1)`.execute(trx);
        const [me] = (await sql<{ id: number }>`select connection_id() as id`.execute(trx)).rows;
        const kill = () => mariadbAdmin((c) => c.query(`kill connection ${Number(me!.id)}`));
        if (during) {
          const running = sql`select sleep(5)`.execute(trx);
          await Bun.sleep(200);
          await kill();
          await running;
        } else {
          await kill();
          await Bun.sleep(200); // mysql2 has seen the connection end
          await sql`insert into t values (2)`.execute(trx);
        }
      })
      .then(() => null, (error: unknown) => error);
  // Killed under a statement: the transaction fails with that statement's error (the connection
  // lost), not with the rollback's "closed state".
  const during = await killed(true);
  expect(classifyDatabaseError(during, "")).toBeInstanceOf(TempFailError);
  expect((during as Error).message).not.toBe(CLOSED_STATE_MESSAGE);
  // Killed before the statement: mysql2 answers it with "closed state" itself, which is temporary too.
  const before = await killed(false);
  expect((before as Error).message).toBe(CLOSED_STATE_MESSAGE);
  expect(classifyDatabaseError(before, "")).toBeInstanceOf(TempFailError);
  for (let i = 0; i < 5; i++) {
    const { rows } = await db.kysely.transaction().execute((trx) => sql<{ n: number }>`select ${i} as n`.execute(trx));
    expect(Number(rows[0]!.n)).toBe(i);
  }
  expect((await sql`select n from t`.execute(db.kysely)).rows).toEqual([]);
});

/** A stand-in for a mysql2 connection that mysql2 closed after a fatal error. */
const closedConnection = () => {
  const closed = Object.assign(new Error(CLOSED_STATE_MESSAGE), { fatal: true });
  const answer = (_sql: string, ...rest: unknown[]) => (rest.at(-1) as (e: unknown, r: unknown) => void)(closed, undefined);
  return new PreparedConnection({ query: answer, execute: answer } as never);
};

test("on a closed connection a rollback succeeds with nothing to do; any other statement fails, as temporary", async () => {
  const connection = closedConnection();
  const run = (text: string, parameters: unknown[] = []) =>
    new Promise((resolve) => connection.query(text, parameters, (error, result) => resolve({ error, result })));
  expect(await run("rollback")).toEqual({ error: null, result: [] });
  const other = (await run("insert into t values (?)", [1])) as { error: unknown };
  expect(classifyDatabaseError(other.error, "")).toBeInstanceOf(TempFailError);
  const plain = (await run("commit")) as { error: unknown };
  expect((plain.error as Error).message).toBe(CLOSED_STATE_MESSAGE);
});
