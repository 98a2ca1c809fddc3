// The shared limits' statements ([limits], src/limits/gate.ts). Every decision is one statement
// that reads and writes the limit's row, so workers on any number of hosts see one state: PostgreSQL
// locks the row for the statement, SQLite runs it under its single write lock. Token buckets run on
// the database's clock (dialect-sql.ts epochNow), so hosts whose clocks differ still share one rate. MariaDB,
// without UPDATE … RETURNING, reads the row back in the transaction that changed (and so locks) it.
import { sql, type Kysely } from "kysely";
import type { Database } from "../connect.ts";
import type { Schema } from "../schema.ts";
import { insertNew } from "./insert-new.ts";
import { sqlOf } from "../dialect-sql.ts";

export interface TokenResult {
  granted: boolean;
  /** When not granted: milliseconds until the next token. */
  waitMs: number;
  /** Tokens left after the statement. */
  tokens: number;
}

/** Creates a bucket row, full, unless it exists. */
export async function ensureBucket(db: Database, name: string, burst: number): Promise<void> {
  await insertNew(db.kysely, "mailer_ratelimit", { name, tokens: burst, updated_at: sqlOf(db.dialect).epochNow as never }, ["name"]);
}

/** Takes one token from bucket `name` (refilled at `perSecond` up to `burst` since its last use).
 * null when the row is missing (ensureBucket first). */
export async function takeToken(db: Database, name: string, perSecond: number, burst: number): Promise<TokenResult | null> {
  const d = sqlOf(db.dialect);
  const now = d.epochNow;
  // Literals, not parameters: numbers only, and PostgreSQL then needs no guess at their types.
  const available = d.least(sql.lit(burst), sql`tokens + ${d.greatest(sql.lit(0), sql`${now} - updated_at`)} * ${sql.lit(perSecond)}`);
  const grant = sql<number>`case when ${available} >= 1 then 1 else 0 end`;
  const take = (q: Kysely<Schema>) =>
    q
      .updateTable("mailer_ratelimit")
      // updated_at never goes back: on PostgreSQL a statement's timestamp is taken when it arrives, and
      // one that arrived earlier may get the row lock later; moving the time back would credit the
      // same interval twice. The order matters on MariaDB, whose assignments run left to right and see
      // the columns already set: tokens and updated_at, which the grant reads, come last.
      .set({ granted: grant as never, tokens: sql`${available} - ${grant}` as never, updated_at: d.greatest(sql`updated_at`, now) as never })
      .where("name", "=", name);
  const row = db.dialect.capabilities.pickAndChange
    ? await take(db.kysely).returning(["tokens", "granted"]).executeTakeFirst()
    : await db.kysely.transaction().execute(async (trx) => {
        await take(trx).execute();
        return trx.selectFrom("mailer_ratelimit").select(["tokens", "granted"]).where("name", "=", name).executeTakeFirst();
      });
  if (!row) return null;
  const tokens = Number(row.tokens);
  const granted = Number(row.granted) === 1;
  return { granted, tokens, waitMs: granted ? 0 : Math.ceil(((1 - tokens) / perSecond) * 1000) };
}

/** Gives back a token taken for a message that then was not sent (another limit held it). */
export async function refundToken(db: Database, name: string, burst: number): Promise<void> {
  const d = sqlOf(db.dialect);
  await db.kysely
    .updateTable("mailer_ratelimit")
    .set({ tokens: d.least(sql.lit(burst), sql`tokens + 1`) as never })
    .where("name", "=", name)
    .execute();
}

/** The name of a day's counter: "daily:2026-12-04" (UTC). */
export const dailyName = (now: Date) => `daily:${now.toISOString().slice(0, 10)}`;

/** Counts one message against a day's quota: false when `limit` are counted already. */
export async function countDaily(db: Database, name: string, limit: number): Promise<boolean> {
  const take = async () => {
    const result = await db.kysely
      .updateTable("mailer_ratelimit")
      .set((eb) => ({ tokens: eb("tokens", "+", 1), updated_at: sqlOf(db.dialect).epochNow as never }))
      .where("name", "=", name)
      .where("tokens", "<", limit)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  };
  if (await take()) return true;
  const exists = await db.kysely.selectFrom("mailer_ratelimit").select("name").where("name", "=", name).executeTakeFirst();
  if (exists) return false;
  await insertNew(db.kysely, "mailer_ratelimit", { name, tokens: 0, updated_at: sqlOf(db.dialect).epochNow as never }, ["name"]);
  return take();
}

export async function uncountDaily(db: Database, name: string): Promise<void> {
  await db.kysely
    .updateTable("mailer_ratelimit")
    .set((eb) => ({ tokens: eb("tokens", "-", 1) }))
    .where("name", "=", name)
    .where("tokens", ">", 0)
    .execute();
}

/** Creates slots 0..count-1 of a concurrency limit, unless they exist. */
export async function ensureSlots(db: Database, name: string, count: number): Promise<void> {
  const slots = Array.from({ length: count }, (_, slot) => ({ name, slot, holder: null, lease_until: null }));
  await insertNew(db.kysely, "mailer_limitslot", slots, ["name", "slot"]);
}

/** Takes a free slot among the first `count` of `name` for `holder` until `leaseUntil` (a slot whose
 * lease has run out is free: its holder died mid-send). null when all are taken. */
export async function acquireSlot(db: Database, name: string, count: number, holder: string, now: Date, leaseUntil: Date): Promise<number | null> {
  const nowDb = db.dialect.toDb(now);
  const free = (q: Kysely<Schema>) => {
    const slot = q
      .selectFrom("mailer_limitslot")
      .select("slot")
      .where("name", "=", name)
      .where("slot", "<", count)
      .where((eb) => eb.or([eb("holder", "is", null), eb("lease_until", "<", nowDb)]))
      .orderBy("slot")
      .limit(1);
    // Two workers asking at once take different slots instead of one waiting for the other.
    return db.dialect.capabilities.skipLocked ? slot.forUpdate().skipLocked() : slot;
  };
  const take = (q: Kysely<Schema>, slot: ReturnType<typeof free> | number) =>
    q.updateTable("mailer_limitslot").set({ holder, lease_until: db.dialect.toDb(leaseUntil) }).where("name", "=", name).where("slot", "=", slot);
  if (db.dialect.capabilities.pickAndChange) {
    const row = await take(db.kysely, free(db.kysely)).returning("slot").executeTakeFirst();
    return row ? Number(row.slot) : null;
  }
  return db.kysely.transaction().execute(async (trx) => {
    const row = await free(trx).executeTakeFirst();
    if (!row) return null;
    await take(trx, row.slot).execute();
    return Number(row.slot);
  });
}

export async function releaseSlot(db: Database, name: string, slot: number, holder: string): Promise<void> {
  await db.kysely
    .updateTable("mailer_limitslot")
    .set({ holder: null, lease_until: null })
    .where("name", "=", name)
    .where("slot", "=", slot)
    .where("holder", "=", holder)
    .execute();
}

/** Frees every slot held by these workers (they are known to be dead). */
export async function releaseSlotsOf(db: Database, holders: string[]): Promise<number> {
  if (holders.length === 0) return 0;
  const result = await db.kysely
    .updateTable("mailer_limitslot")
    .set({ holder: null, lease_until: null })
    .where("holder", "in", holders)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Every bucket and counter: tokens (a day counter's count) and seconds since its last update. */
export async function limitStates(db: Database): Promise<Array<{ name: string; tokens: number; age_s: number }>> {
  const rows = await db.kysely
    .selectFrom("mailer_ratelimit")
    .select(["name", "tokens", sql<number>`${sqlOf(db.dialect).epochNow} - updated_at`.as("age_s")])
    .execute();
  return rows.map((r) => ({ name: r.name, tokens: Number(r.tokens), age_s: Number(r.age_s) }));
}

/** Slots held now (lease not run out), by limit name. */
export async function slotsInUse(db: Database, now: Date): Promise<Map<string, number>> {
  const rows = await db.kysely
    .selectFrom("mailer_limitslot")
    .select(["name", sql<number>`count(*)`.as("n")])
    .where("holder", "is not", null)
    .where("lease_until", ">=", db.dialect.toDb(now))
    .groupBy("name")
    .execute();
  return new Map(rows.map((r) => [r.name, Number(r.n)]));
}

/** Forgets day counters older than yesterday. */
export async function pruneDailyCounters(db: Database, now: Date): Promise<void> {
  const yesterday = dailyName(new Date(now.getTime() - 86_400_000));
  await db.kysely.deleteFrom("mailer_ratelimit").where("name", "like", "daily:%").where("name", "<", yesterday).execute();
}
