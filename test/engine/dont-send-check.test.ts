// The don't-send re-check right before each send (dont-send-check.ts), on every database: on SQLite
// the counter is read synchronously on the handle behind Kysely, on a server by a shared read.
import { afterEach, expect } from "bun:test";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { claimBatch } from "../../src/db/queries/claims.ts";
import { addDontSend, removeDontSend } from "../../src/db/queries/dont-send.ts";
import { dontSendListIsEmpty, VERSION_READ } from "../../src/db/queries/dont-send-state.ts";
import { DontSendCheck } from "../../src/engine/dont-send-check.ts";
import { ConfigError } from "../../src/errors.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
let other: Database | null = null;
afterEach(async () => {
  await other?.close();
  other = null;
  await b?.cleanup();
  b = null;
});

const later = (s: number) => new Date(Date.now() + s * 1000);

/** `db`, counting the counter readings that reach the server. */
function countingReadings(db: Database) {
  const counted = { db: Object.create(db) as Database, readings: 0 };
  counted.db.executeQuery = (statement) => {
    if (statement.sql === VERSION_READ.sql) counted.readings++;
    return db.executeQuery(statement);
  };
  return counted;
}

/** Fails instead of hanging when an answer never comes. */
const within = <T>(answer: PromiseLike<T>, ms = 5_000) =>
  Promise.race([answer, Bun.sleep(ms).then(() => Promise.reject(new Error(`no answer within ${ms} ms`)))]);

async function claimOne(bench: Bench) {
  await bench.enqueue({ to: ["kept@example.com", "listed@example.com"] });
  const claim = await claimBatch(bench.db, "a:1:x", 10, new Date(), later(300));
  const snapshot = { suppressed: new Set<string>(), version: claim.dontSendVersion };
  return { row: claim.rows[0]!, snapshot };
}

forEachDialect((dialect, it) => {
  it("an unchanged list answers from the batch; a change made on another connection after the claim is seen", async () => {
    b = await bench(dialect);
    expect(b.db.sqlite !== undefined).toBe(dialect === "sqlite");
    const { row, snapshot } = await claimOne(b);
    const check = new DontSendCheck(b.db);
    expect(await check.ask(row, snapshot)).toBe(snapshot.suppressed);
    other = await openDatabase(b.url);
    await addDontSend(other.kysely, "Listed@Example.com");
    expect([...(await check.ask(row, snapshot))]).toEqual(["listed@example.com"]);
  });

  it("a database that fails at the reading fails as database errors do", async () => {
    b = await bench(dialect);
    const { row, snapshot } = await claimOne(b);
    const check = new DontSendCheck(b.db);
    expect(await check.ask(row, snapshot)).toBe(snapshot.suppressed);
    other = await openDatabase(b.url);
    await other.kysely.schema.dropTable("mailer_counter").execute();
    const failure = await Promise.resolve(check.ask(row, snapshot)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toContain("no mailer schema");
  });
});

forEachDialect((dialect, it) => {
  it("dontSendListIsEmpty follows changes made on another connection, with and without the change counter", async () => {
    b = await bench(dialect);
    other = await openDatabase(b.url);
    expect(await dontSendListIsEmpty(b.db)).toBe(true);
    await addDontSend(other.kysely, "listed@example.com");
    expect(await dontSendListIsEmpty(b.db)).toBe(false);
    await removeDontSend(other.kysely, "listed@example.com");
    expect(await dontSendListIsEmpty(b.db)).toBe(true);
    // Without its counter row the answer cannot be kept (the reading never moves): asked each time.
    await other.kysely.deleteFrom("mailer_counter").execute();
    expect(await dontSendListIsEmpty(b.db)).toBe(true);
    await addDontSend(other.kysely, "listed@example.com");
    await other.kysely.deleteFrom("mailer_counter").execute(); // the trigger may have made it again
    expect(await dontSendListIsEmpty(b.db)).toBe(false);
  });
});

// Readings on demand (pool > 1): sends that start during one envelope's round trip share a reading.
forEachDialect((dialect, it) => {
  it("askings share one reading, begun when the first answer is needed, after they all asked", async () => {
    b = await bench(dialect);
    const { row, snapshot } = await claimOne(b);
    const counted = countingReadings(b.db);
    const check = new DontSendCheck(counted.db, 4);
    const asked = [check.ask(row, snapshot), check.ask(row, snapshot), check.ask(row, snapshot)];
    await Bun.sleep(50);
    expect(counted.readings).toBe(0);
    // Listed after the askings: the reading, begun once an answer was needed, sees it.
    other = await openDatabase(b.url);
    await addDontSend(other.kysely, "Listed@Example.com");
    const answers = await within(Promise.all(asked));
    for (const listed of answers) expect([...listed]).toEqual(["listed@example.com"]);
    expect(counted.readings).toBe(1);
  });

  it("as many askings as the pool has connections begin a reading at once; with a pool of one, each does", async () => {
    b = await bench(dialect);
    const { row, snapshot } = await claimOne(b);
    const counted = countingReadings(b.db);
    const four = new DontSendCheck(counted.db, 4);
    const asked = [1, 2, 3, 4].map(() => four.ask(row, snapshot));
    await Bun.sleep(50);
    expect(counted.readings).toBe(1);
    for (const listed of await within(Promise.all(asked))) expect(listed).toBe(snapshot.suppressed);
    expect(counted.readings).toBe(1);
    const one = new DontSendCheck(counted.db, 1);
    const alone = one.ask(row, snapshot);
    await Bun.sleep(50);
    expect(counted.readings).toBe(2);
    expect(await within(alone)).toBe(snapshot.suppressed);
  });

  it("an answer needed while a reading is under way that began before its asking gets the next reading", async () => {
    b = await bench(dialect);
    const { row, snapshot } = await claimOne(b);
    const counted = countingReadings(b.db);
    const check = new DontSendCheck(counted.db, 4);
    const first = within(check.ask(row, snapshot)); // needed at once: the first reading begins
    while (counted.readings === 0) await null; // (a turn of microtasks, not the round trip)
    const second = within(check.ask(row, snapshot)); // asked and needed while that reading runs
    expect(await first).toBe(snapshot.suppressed);
    expect(await second).toBe(snapshot.suppressed);
    expect(counted.readings).toBe(2);
  });

  it("a reading that fails before anyone awaits its answer is no unhandled rejection; the asker hears of it when it awaits", async () => {
    b = await bench(dialect);
    const { row, snapshot } = await claimOne(b);
    other = await openDatabase(b.url);
    await other.kysely.schema.dropTable("mailer_counter").execute();
    const check = new DontSendCheck(b.db, 1);
    const asked = check.ask(row, snapshot); // read at once, and fails
    await Bun.sleep(100);
    const failure = await Promise.resolve(asked).then(() => null, (error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
  });
}, ["postgres", "mariadb"]);

forEachDialect((dialect, it) => {
  it("on SQLite the counter is read as the check is asked for: a change made after that is the next send's", async () => {
    b = await bench(dialect);
    const { row, snapshot } = await claimOne(b);
    const check = new DontSendCheck(b.db, 4);
    const asked = check.ask(row, snapshot);
    other = await openDatabase(b.url);
    await addDontSend(other.kysely, "Listed@Example.com");
    expect(await asked).toBe(snapshot.suppressed);
    expect([...(await check.ask(row, snapshot))]).toEqual(["listed@example.com"]);
  });
}, ["sqlite"]);
