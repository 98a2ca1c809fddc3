// The console's read statements on both databases: keyset pages that neither skip nor repeat a row
// (ties in when_added included), search with LIKE's wildcards taken literally, the activity buckets.
import { afterEach, beforeEach, expect } from "bun:test";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { browseLog, browseMessages, claimHolders, logActivity, matchingIds, type MessageCursor, type MessageFilter, type MessageOrder } from "../../src/db/queries/browse.ts";
import { testDatabase } from "../helpers/db.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";

forEachDialect((dialect, it) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    const database = await testDatabase(dialect);
    db = await openDatabase(database.url);
    await migrateToLatest(db);
    cleanup = database.cleanup;
  });
  afterEach(async () => {
    await db?.close();
    await cleanup?.();
  });

  const t0 = new Date("2026-12-01T10:00:00.000Z");
  const insert = (rows: Array<{ subject?: string; to?: string; priority?: number; status?: "queued" | "deferred" | "failed"; at?: Date; claimed_by?: string }>) =>
    db.kysely
      .insertInto("mailer_message")
      .values(rows.map((r, i) => ({
        message_data: new TextEncoder().encode(`Subject: ${r.subject ?? i}\r\n\r\nx\r\n`),
        subject: r.subject ?? `message ${i}`,
        envelope_to: r.to ?? `user${i}@example.com`,
        priority: r.priority ?? 2,
        status: r.status ?? "queued",
        when_added: db.dialect.toDb(r.at ?? t0),
        message_id: `<m${i}@example.com>`,
        claimed_by: r.claimed_by ?? null,
        lease_until: r.claimed_by ? db.dialect.toDb(new Date(Date.now() + 60_000)) : null,
      })))
      .execute();
  const all: MessageFilter = { status: null, priority: null, q: "" };
  async function walk(filter: MessageFilter, order: MessageOrder, size: number) {
    const seen: number[] = [];
    let after: MessageCursor | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const page = await browseMessages(db.kysely, db.dialect, filter, order, after, size);
      seen.push(...page.rows.map((r) => r.id));
      if (!page.next) break;
      after = page.next;
    }
    return seen;
  }

  it("pages in queue order through ties in priority and when_added without skipping or repeating a row", async () => {
    // 25 rows, most sharing one when_added: only the id breaks the tie.
    await insert(Array.from({ length: 25 }, (_, i) => ({ priority: (i % 3) + 1, at: i % 5 === 0 ? new Date(t0.getTime() + 1000) : t0 })));
    const rows = await db.kysely.selectFrom("mailer_message").select(["id", "priority", "when_added"]).execute();
    const expected = rows
      .map((r) => ({ id: Number(r.id), p: r.priority, t: new Date(r.when_added).getTime() }))
      .sort((a, b) => a.p - b.p || a.t - b.t || a.id - b.id)
      .map((r) => r.id);
    expect(await walk(all, "queue", 4)).toEqual(expected);
    expect(await walk(all, "oldest", 7)).toEqual([...expected].sort((a, b) => a - b));
    expect(await walk(all, "newest", 7)).toEqual([...expected].sort((a, b) => b - a));
    expect(await walk({ ...all, status: "queued", priority: 3 }, "queue", 2)).toHaveLength(8);
  });

  it("searches recipient, subject and Message-ID in any case; % and _ match only themselves", async () => {
    await insert([
      { subject: "100% off", to: "a@example.com" },
      { subject: "1000 off", to: "b@example.com" },
      { subject: "snake_case", to: "c@example.com" },
      { subject: "snakeXcase", to: "Needle@Example.COM" },
    ]);
    const subjects = async (q: string) => (await browseMessages(db.kysely, db.dialect, { ...all, q }, "oldest", null, 10)).rows.map((r) => r.subject);
    expect(await subjects("0%")).toEqual(["100% off"]);
    expect(await subjects("e_c")).toEqual(["snake_case"]);
    expect(await subjects("needle@example.com")).toEqual(["snakeXcase"]);
    expect(await subjects("<m2@example.com>")).toEqual(["snake_case"]);
    expect(await subjects("<m2@example")).toEqual(["snake_case"]); // not a whole <Message-ID>: a substring search
    expect(await matchingIds(db.kysely, { ...all, q: "off" }, 0, 10)).toHaveLength(2);
  });

  it("counts log rows per minute and per hour in UTC, and lists claim holders", async () => {
    const at = (iso: string) => db.dialect.toDb(new Date(iso));
    const log = (iso: string, result: "success" | "failure") => ({
      subject: "s", envelope_from: "app@example.com", envelope_to: "a@example.com", retry_count: 0, when_added: at(iso), priority: 2, result, when_attempted: at(iso), queue_id: 1,
    });
    await db.kysely.insertInto("mailer_messagelog").values([
      log("2026-12-01T10:00:05.000Z", "success"), log("2026-12-01T10:00:59.000Z", "success"),
      log("2026-12-01T10:01:00.000Z", "failure"), log("2026-12-01T11:30:00.000Z", "success"),
    ]).execute();
    const since = new Date("2026-12-01T09:00:00.000Z");
    const minutes = await logActivity(db.kysely, db.dialect, since, "minute");
    expect(minutes.sort((a, b) => a.bucket.localeCompare(b.bucket) || a.result.localeCompare(b.result))).toEqual([
      { bucket: "2026-12-01T10:00", result: "success", n: 2 },
      { bucket: "2026-12-01T10:01", result: "failure", n: 1 },
      { bucket: "2026-12-01T11:30", result: "success", n: 1 },
    ]);
    const hours = await logActivity(db.kysely, db.dialect, since, "hour");
    expect(hours.filter((h) => h.result === "success").map((h) => [h.bucket, h.n]).sort()).toEqual([["2026-12-01T10", 2], ["2026-12-01T11", 1]]);
    const newest = await browseLog(db.kysely, db.dialect, { result: "success", since: null, until: null, q: "" }, null, 2);
    expect(newest.rows.map((r) => r.when_attempted && new Date(r.when_attempted).toISOString())).toEqual(["2026-12-01T11:30:00.000Z", "2026-12-01T10:00:59.000Z"]);
    expect(newest.next).toBe(newest.rows[1]!.id);

    await insert([{ claimed_by: "host:1:a" }, { claimed_by: "host:1:a" }, {}]);
    expect((await claimHolders(db.kysely)).map((h) => [h.worker, h.messages])).toEqual([["host:1:a", 2]]);
  });
});
