// The shared limits' statements against real databases: token buckets on the database's clock,
// refunds, day counters and concurrency slots, and workers asking at once.
import { afterEach, describe, expect, test } from "bun:test";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import {
  acquireSlot,
  countDaily,
  ensureBucket,
  ensureSlots,
  refundToken,
  releaseSlot,
  releaseSlotsOf,
  takeToken,
  uncountDaily,
} from "../../src/db/queries/limits.ts";
import { loadConfig } from "../../src/config/load.ts";
import { parseRate } from "../../src/limits/rate.ts";
import { testDatabase, tempDir, type Dialect } from "../helpers/db.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function migrated(dialect: Dialect): Promise<Database> {
  const target = await testDatabase(dialect);
  cleanups.push(target.cleanup);
  const db = await openDatabase(target.url);
  cleanups.push(() => db.close());
  await migrateToLatest(db);
  return db;
}

forEachDialect((dialect, it) => {
  it("a token bucket gives its burst at once, then one token per 1/rate seconds, by the database's clock", async () => {
    const db = await migrated(dialect);
    await ensureBucket(db, "t", 3);
    // 1/s, not faster: every "not granted" below assumes no whole token accrued between two
    // statements, and a loaded CI machine has stalled one statement for well over 50 ms.
    const grants = [];
    for (let i = 0; i < 4; i++) grants.push(await takeToken(db, "t", 1, 3));
    expect(grants.map((g) => g!.granted)).toEqual([true, true, true, false]);
    // The next token is at most a second away.
    expect(grants[3]!.waitMs).toBeGreaterThan(0);
    expect(grants[3]!.waitMs).toBeLessThanOrEqual(1000);
    await Bun.sleep(grants[3]!.waitMs + 5);
    expect((await takeToken(db, "t", 1, 3))!.granted).toBe(true);
    expect((await takeToken(db, "t", 1, 3))!.granted).toBe(false);
    // A refund gives one back, never past the burst.
    await refundToken(db, "t", 3);
    expect((await takeToken(db, "t", 1, 3))!.granted).toBe(true);
    for (let i = 0; i < 10; i++) await refundToken(db, "t", 3);
    const full = await db.kysely.selectFrom("mailer_ratelimit").select("tokens").where("name", "=", "t").executeTakeFirstOrThrow();
    expect(Number(full.tokens)).toBeLessThanOrEqual(3);
    // A bucket that does not exist says so (the gate creates it).
    expect(await takeToken(db, "missing", 1, 1)).toBeNull();
  });

  it("workers asking at once share the bucket: 40 concurrent takes from a burst of 5 grant exactly 5", async () => {
    const db = await migrated(dialect);
    // Several connections on PostgreSQL, as several workers would have.
    const others = await Promise.all([1, 2, 3].map(() => openDatabase(db.url)));
    cleanups.push(() => Promise.all(others.map((o) => o.close())).then(() => {}));
    await ensureBucket(db, "shared", 5);
    const all = [db, ...others];
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => takeToken(all[i % all.length]!, "shared", 0.001, 5)));
    expect(results.filter((r) => r!.granted)).toHaveLength(5);
  });

  it("4 connections taking tokens as fast as they may for 1 s at 50/s, burst 5, get at most 50 + 5", async () => {
    const db = await migrated(dialect);
    const all = [db, ...(await Promise.all([1, 2, 3].map(() => openDatabase(db.url))))];
    cleanups.push(() => Promise.all(all.slice(1).map((o) => o.close())).then(() => {}));
    await ensureBucket(db, "fleet", 5);
    let granted = 0;
    const start = performance.now();
    await Promise.all(
      all.map(async (conn) => {
        while (performance.now() - start < 1000) {
          const r = (await takeToken(conn, "fleet", 50, 5))!;
          if (r.granted) granted++;
          else await Bun.sleep(Math.min(r.waitMs, Math.max(0, 1000 - (performance.now() - start))));
        }
      }),
    );
    // The database's clock ran about as long as ours: a few milliseconds' tokens either way.
    expect(granted).toBeLessThanOrEqual(56);
    expect(granted).toBeGreaterThanOrEqual(45);
  });

  it("concurrency slots: N holders at most, freed by release, by a lease that ran out, or for dead workers", async () => {
    const db = await migrated(dialect);
    const now = new Date();
    const later = new Date(now.getTime() + 60_000);
    await ensureSlots(db, "domain:x", 2);
    await ensureSlots(db, "domain:x", 2); // again: no error, no new rows
    const muchLater = new Date(now.getTime() + 3_600_000);
    const a = await acquireSlot(db, "domain:x", 2, "w1", now, muchLater);
    const b = await acquireSlot(db, "domain:x", 2, "w2", now, later);
    expect([a, b].sort()).toEqual([0, 1]);
    expect(await acquireSlot(db, "domain:x", 2, "w3", now, later)).toBeNull();
    await releaseSlot(db, "domain:x", a!, "someone else"); // not the holder: nothing happens
    expect(await acquireSlot(db, "domain:x", 2, "w3", now, later)).toBeNull();
    await releaseSlot(db, "domain:x", a!, "w1");
    expect(await acquireSlot(db, "domain:x", 2, "w3", now, muchLater)).toBe(a);
    // w2's lease runs out: its slot is free to others.
    expect(await acquireSlot(db, "domain:x", 2, "w4", new Date(later.getTime() + 1), new Date(later.getTime() + 60_000))).toBe(b);
    expect(await releaseSlotsOf(db, ["w3", "w4"])).toBe(2);
    expect(await acquireSlot(db, "domain:x", 1, "w5", now, later)).toBe(0);
  });

  it("concurrent slot requests from several connections never hand one slot to two", async () => {
    const db = await migrated(dialect);
    const others = await Promise.all([1, 2, 3].map(() => openDatabase(db.url)));
    cleanups.push(() => Promise.all(others.map((o) => o.close())).then(() => {}));
    await ensureSlots(db, "domain:y", 3);
    const all = [db, ...others];
    const now = new Date();
    const got = await Promise.all(Array.from({ length: 12 }, (_, i) => acquireSlot(all[i % 4]!, "domain:y", 3, `w${i}`, now, new Date(now.getTime() + 60_000))));
    expect(got.filter((s) => s !== null).sort()).toEqual([0, 1, 2]);
  });

  it("a day counter counts up to its limit; uncount gives one back", async () => {
    const db = await migrated(dialect);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await countDaily(db, "daily:2026-12-04", 2));
    expect(results).toEqual([true, true, false]);
    await uncountDaily(db, "daily:2026-12-04");
    expect(await countDaily(db, "daily:2026-12-04", 2)).toBe(true);
    expect(await countDaily(db, "daily:2026-12-05", 2)).toBe(true);
  });
});

describe("[limits] config", () => {
  const load = (toml: string, env: Record<string, string> = {}) => {
    const dir = tempDir("mailer-limits-");
    cleanups.push(() => dir.cleanup());
    writeFileSync(join(dir.path, "mailer.toml"), toml);
    return loadConfig({ cwd: dir.path, env, systemPath: "/nonexistent" });
  };

  test("rates, bursts, a daily quota and per-domain tables (\"*\" for the rest) are read", () => {
    const { config } = load(
      `[limits]\nrate = "14/s"\nburst = 3\ndaily = 50000\n[limits.domains."Gmail.com"]\nrate = "20/min"\nconcurrency = 2\n[limits.domains."*"]\nconcurrency = 4\n`,
    );
    expect(config.limits).toEqual({
      rate: "14/s", burst: 3, daily: 50000,
      domains: { "gmail.com": { rate: "20/m", burst: 1, concurrency: 2 }, "*": { rate: "", burst: 1, concurrency: 4 } },
    });
    expect(load("", { MAILER_LIMITS_RATE: "100/m" }).config.limits.rate).toBe("100/m");
  });

  test("bad values are one clear error each, naming the file, line and key", () => {
    const fails = (toml: string, env: Record<string, string> = {}) => {
      try {
        load(toml, env);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error("expected a config error");
    };
    expect(fails(`[limits]\nrate = "fast"\n`)).toMatch(/mailer\.toml:2: limits\.rate: expected a rate such as "14\/s"/);
    expect(fails(`[limits]\nrate = "0/s"\n`)).toContain("limits.rate: expected a rate");
    expect(fails(`[limits]\nburst = 0\n`)).toContain("limits.burst: expected an integer >= 1");
    expect(fails(`[limits.domains."gmail.com"]\nrat = "1/s"\n`)).toContain('[limits.domains."gmail.com"]: rate, burst or concurrency, not "rat" (did you mean rate?)');
    expect(fails(`[limits.domains."gmail.com"]\nrate = "1/fortnight"\n`)).toContain('[limits.domains."gmail.com"] rate: a rate such as');
    expect(fails(`[limits.domains."gmail.com"]\nburst = 2\n`)).toContain('[limits.domains."gmail.com"]: rate or concurrency (or both)');
    expect(fails(`[limits.domains."not a domain"]\nconcurrency = 1\n`)).toContain("a domain name such as");
    expect(fails(`[limits.domains."x.org"]\nconcurrency = 0\n`)).toContain("concurrency: an integer from 1 to 1000");
    expect(fails("", { MAILER_LIMITS_DOMAINS: "gmail.com=1" })).toContain("environment MAILER_LIMITS_DOMAINS: limits.domains: expected [limits.domains.");
    expect(fails(`[limits]\nrats = "1/s"\n`)).toContain("unknown key limits.rats (did you mean limits.rate?)");
  });

  test("parseRate", () => {
    expect(parseRate("14/s")).toMatchObject({ text: "14/s", perSecond: 14 });
    expect(parseRate("30 / minute")).toMatchObject({ text: "30/m", perSecond: 0.5 });
    expect(parseRate("86400/d")).toMatchObject({ perSecond: 1 });
    for (const bad of ["", "14", "/s", "-1/s", "1/w", "abc/s"]) expect(parseRate(bad)).toBeNull();
  });
});
