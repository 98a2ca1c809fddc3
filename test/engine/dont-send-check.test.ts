// The don't-send re-check right before each send (dont-send-check.ts), on every database: on SQLite
// the counter is read synchronously on the handle behind Kysely, on a server by a shared read.
import { afterEach, expect } from "bun:test";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { claimBatch } from "../../src/db/queries/claims.ts";
import { addDontSend, removeDontSend } from "../../src/db/queries/dont-send.ts";
import { dontSendListIsEmpty } from "../../src/db/queries/dont-send-state.ts";
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
    expect(await check.listedFor(row, snapshot)).toBe(snapshot.suppressed);
    other = await openDatabase(b.url);
    await addDontSend(other.kysely, "Listed@Example.com");
    expect([...(await check.listedFor(row, snapshot))]).toEqual(["listed@example.com"]);
  });

  it("a database that fails at the reading fails as database errors do", async () => {
    b = await bench(dialect);
    const { row, snapshot } = await claimOne(b);
    const check = new DontSendCheck(b.db);
    expect(await check.listedFor(row, snapshot)).toBe(snapshot.suppressed);
    other = await openDatabase(b.url);
    await other.kysely.schema.dropTable("mailer_counter").execute();
    const failure = await check.listedFor(row, snapshot).catch((error: unknown) => error);
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
