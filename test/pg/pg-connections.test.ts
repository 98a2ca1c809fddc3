// The connections Kysely runs on survive the server closing them (src/db/pg-connections.ts): with
// postgres.js's own pool, a connection closed mid-transaction was handed out again and the next
// statement on it never settled, freezing every later pass. Transactions and single statements
// keep running while the server is restarted, and each failure in between is a connection error
// the engine treats as temporary, never a hang or a TypeError.
import { afterEach, expect } from "bun:test";
import { sql } from "kysely";
import postgres from "postgres";
import { openDatabase, classifyDatabaseError, type Database } from "../../src/db/connect.ts";
import { reservableConnections } from "../../src/db/pg-connections.ts";
import { TempFailError } from "../../src/errors.ts";
import { testFor } from "../helpers/dialects.ts";
import { PG_URL, createPgDatabase, openFreshDatabase, withDatabase } from "../helpers/db.ts";
import { startPgCluster, type PgCluster } from "../helpers/pg-cluster.ts";
import { until } from "../helpers/wait.ts";

const it = testFor("postgres");
let cluster: PgCluster | null = null;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c().catch(() => {});
  await cluster?.cleanup();
  cluster = null;
});

/** Transactions and single statements in a loop, counting successes and every kind of failure. */
function traffic(db: Database) {
  const stats = { done: 0, failures: new Set<string>(), stop: false };
  const note = (error: unknown) => {
    const temp = classifyDatabaseError(error, "") instanceof TempFailError;
    stats.failures.add(temp ? "temporary" : `other: ${String(error)}`);
  };
  const loops = [
    async () => {
      await db.kysely.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await sql`select pg_sleep(0.005)`.execute(trx);
      });
    },
    async () => void (await sql`select 2`.execute(db.kysely)),
  ].map(async (step) => {
    while (!stats.stop) {
      try {
        await step();
        stats.done++;
      } catch (error) {
        note(error);
        await Bun.sleep(20);
      }
    }
  });
  return { stats, finished: Promise.all(loops) };
}

it("a server restart under concurrent transactions: work resumes, failures in between are temporary", async () => {
  cluster = await startPgCluster();
  const db = await openDatabase(cluster.url);
  cleanups.push(() => db.close());
  const { stats, finished } = traffic(db);
  for (let round = 0; round < 2; round++) {
    const before = stats.done;
    await until(() => stats.done > before + 50, "traffic before the restart");
    await cluster.stop();
    await Bun.sleep(300); // down for a while, with the loops failing against it
    await cluster.start();
    const resumed = stats.done;
    await until(() => stats.done > resumed + 200, "traffic after the restart", 15_000);
  }
  stats.stop = true;
  await finished;
  expect([...stats.failures]).toEqual(["temporary"]);
});

it("a backend terminated mid-transaction: that transaction fails as temporary, the next ones succeed", async () => {
  const db = await openFreshDatabase("postgres", cleanups);
  const failure = await db.kysely
    .transaction()
    .execute(async (trx) => {
      const [me] = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows;
      await sql`select pg_terminate_backend(${me!.pid})`.execute(db.kysely);
      await sql`select 1`.execute(trx);
    })
    .then(() => null, (error: unknown) => error);
  expect(classifyDatabaseError(failure, "")).toBeInstanceOf(TempFailError);
  for (let i = 0; i < 10; i++) {
    const rows = await db.kysely.transaction().execute((trx) => sql<{ n: number }>`select ${i}::int as n`.execute(trx));
    expect(rows.rows[0]!.n).toBe(i);
  }
});

// A transaction's statements run on its slot's own postgres.js instance, which would open a new
// connection for a statement sent after the old one closed: that statement would commit on its own.
it("after its backend is terminated, no later statement of the transaction runs anywhere, sent at once or once the close is seen", async () => {
  const db = await openFreshDatabase("postgres", cleanups);
  await sql`create table t (n int)`.execute(db.kysely);
  for (const pause of [0, 300]) {
    const failure = await db.kysely
      .transaction()
      .execute(async (trx) => {
        await sql`insert into t values (${pause})`.execute(trx);
        const [me] = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows;
        await sql`select pg_terminate_backend(${me!.pid})`.execute(db.kysely);
        await Bun.sleep(pause);
        await sql`insert into t values (${pause + 1})`.execute(trx);
      })
      .then(() => null, (error: unknown) => error);
    expect(classifyDatabaseError(failure, "")).toBeInstanceOf(TempFailError);
  }
  expect((await sql`select n from t`.execute(db.kysely)).rows).toEqual([]);
});

/** reservableConnections on a fresh database, and an admin client beside it; all ended after the test. */
async function connectionsOnFreshDatabase(options: { max: number; idle_timeout?: number; max_lifetime?: number }) {
  const created = await createPgDatabase();
  const connections = reservableConnections(created.url, { onnotice: () => {}, ...options });
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  cleanups.push(async () => {
    await connections.end();
    await admin.end();
    await created.drop();
  });
  return { created, connections, admin };
}

/** One reservation that runs `text` and is released; the rows. */
async function onReservation(connections: ReturnType<typeof reservableConnections>, text: string): Promise<Array<Record<string, unknown>>> {
  const reserved = await connections.reserve();
  try {
    return (await reserved.unsafe(text)) as unknown as Array<Record<string, unknown>>;
  } finally {
    reserved.release();
  }
}

/** What `promise` settled with (its value or its error), or "hung" if it has not within 5 s. */
const within5s = (promise: Promise<unknown>) => Promise.race([promise.catch((error: unknown) => error), Bun.sleep(5000).then(() => "hung")]);

/** The backend pid `backend` reports once a terminated connection is replaced. The first attempts
 * may still meet the dying connection and fail as a lost connection (a temporary error); none may
 * hang, and a new connection follows within three. */
async function backendAfterTermination(backend: () => Promise<number>): Promise<number> {
  let next: unknown = null;
  for (let attempt = 0; attempt < 3 && typeof next !== "number"; attempt++) {
    next = await within5s(backend());
    expect(next).not.toBe("hung");
    if (typeof next !== "number") expect(classifyDatabaseError(next, "")).toBeInstanceOf(TempFailError);
  }
  expect(typeof next).toBe("number");
  return next as number;
}

/** Reserves, queries and releases `count` times with the given pauses; each reservation must be
 * answered within 5 s. Returns how many sessions the database has open afterwards. */
async function reserveRepeatedly(options: { idle_timeout: number; max_lifetime?: number }, pause: (i: number) => number, count: number) {
  const { created, connections, admin } = await connectionsOnFreshDatabase({ max: 2, ...options });
  for (let i = 0; i < count; i++) {
    await Bun.sleep(pause(i));
    expect(await within5s(onReservation(connections, "select 1 as one").then(() => "answered"))).toBe("answered");
  }
  const open = async () => (await admin`select count(*)::int as n from pg_stat_activity where datname = ${created.name}`)[0]!.n as number;
  return { open };
}

// postgres.js's own timers ended a connection under a reserve() that then never settled: a soak
// run's runmailer-pg froze mid-pass, its lock held, 30 minutes in (postgres.js's shortest
// max_lifetime). The pauses put reservations on both sides of the timer, where the race is; the
// old code hung within a few dozen.
it("reservations made as an idle connection is being closed each get a connection; idle ones still close", async () => {
  const { open } = await reserveRepeatedly({ idle_timeout: 0.05 }, (i) => 35 + (i % 7) * 5, 40);
  await until(async () => (await open()) === 0, "the idle connections closed", 5_000);
});

it("reservations made as a connection reaches its lifetime each get a connection; old ones are replaced", async () => {
  const { open } = await reserveRepeatedly({ idle_timeout: 60, max_lifetime: 0.1 }, (i) => (i * 7) % 20, 80);
  expect(await open()).toBeLessThanOrEqual(2);
});

// Without postgres.js's type query (fetch_types: false, which saves every command 3 ms of start-up),
// a reservation that has to open its connection once hung (postgres.js's own reserve()); each slot's
// connection is now opened by a plain statement first. A reservation must be answered on a new
// connection and on the one that replaces a connection the server ended.
it("a reservation that needs a new connection is answered, also after the server ended the last one", async () => {
  const { connections, admin } = await connectionsOnFreshDatabase({ max: 1 });
  const backend = () => onReservation(connections, "select pg_backend_pid() as pid").then((rows) => rows[0]!.pid as number);
  const first = await within5s(backend());
  expect(typeof first).toBe("number");
  await admin`select pg_terminate_backend(${first as number})`;
  expect(await backendAfterTermination(backend)).not.toBe(first);
});

// read(): one statement without a reservation (the don't-send reading before every send). It takes a
// free slot as reserve() does, so it waits while every connection is reserved, and a connection the
// server ended is replaced, never reused.
it("a read takes a free connection, waits while every one is reserved, and is answered on a new one after the server ended its own", async () => {
  const { connections, admin } = await connectionsOnFreshDatabase({ max: 2 });
  const backend = () => connections.read("select pg_backend_pid() as pid", []).then((rows) => (rows[0] as { pid: number }).pid);
  const pidOf = async (reserved: Awaited<ReturnType<typeof connections.reserve>>) =>
    ((await reserved.unsafe("select pg_backend_pid() as pid")) as unknown as Array<{ pid: number }>)[0]!.pid;

  // One connection reserved: the read runs on the other one, at once.
  const one = await connections.reserve();
  const reservedPid = await pidOf(one);
  const free = await within5s(backend());
  expect(typeof free).toBe("number");
  expect(free).not.toBe(reservedPid);

  // Both reserved: the read waits for a release.
  const two = await connections.reserve();
  let settled = false;
  const waiting = connections.read("select $1::int as n", [7]).finally(() => void (settled = true));
  await Bun.sleep(100);
  expect(settled).toBe(false);
  two.release();
  expect(await within5s(waiting)).toEqual([{ n: 7 }]);
  one.release();

  await admin`select pg_terminate_backend(pid) from pg_stat_activity where pid in (${reservedPid as number}, ${free as number})`;
  expect([reservedPid, free]).not.toContain(await backendAfterTermination(backend));
});

it("a read whose statement fails keeps its connection: the error is the statement's, the next read runs there", async () => {
  const { connections } = await connectionsOnFreshDatabase({ max: 1 });
  const backend = () => connections.read("select pg_backend_pid() as pid", []).then((rows) => (rows[0] as { pid: number }).pid);
  const before = await backend();
  const failure = await connections.read("select 1 / $1::int", [0]).then(() => null, (error: unknown) => error);
  expect((failure as { code?: string }).code).toBe("22012"); // division_by_zero
  expect(classifyDatabaseError(failure, "")).not.toBeInstanceOf(TempFailError);
  expect(await backend()).toBe(before);
});

// end(): an idle connection is told to terminate and not waited for (the server closing it took 8 ms
// of every command's exit); a statement still running is let finish, not cut off.
it("end() lets a statement in flight finish, and leaves no session open", async () => {
  const { created, connections, admin } = await connectionsOnFreshDatabase({ max: 2 });
  const idle = await connections.reserve();
  await idle.unsafe("select 1");
  idle.release();
  const busy = await connections.reserve();
  const slow = busy.unsafe("select pg_sleep(0.3) is null as slept, 42 as n");
  await Bun.sleep(50);
  await connections.end();
  expect(await within5s(slow)).toEqual([{ slept: false, n: 42 }]);
  const sessions = async () => (await admin`select count(*)::int as n from pg_stat_activity where datname = ${created.name}`)[0]!.n as number;
  await until(async () => (await sessions()) === 0, "sessions gone after end()");
});

// A connection that cannot be opened costs its slot at once, whatever the error (here: no such
// database, not a connection loss), so the pool of one is free for the next reservation.
it("a reservation refused by the server (no such database) fails with the server's error, and the next one is answered once it exists", async () => {
  const name = `mailer_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const connections = reservableConnections(withDatabase(PG_URL, name), { onnotice: () => {}, max: 1 });
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  cleanups.push(async () => {
    await connections.end();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  });
  const refused = await within5s(onReservation(connections, "select 1 as one"));
  expect((refused as { code?: string }).code).toBe("3D000"); // invalid_catalog_name
  await admin.unsafe(`create database ${name}`);
  expect(await within5s(onReservation(connections, "select 1 as one"))).toEqual([{ one: 1 }]);
});
