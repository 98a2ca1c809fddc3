// A pass's statements are written out as text (src/db/sql-text.ts). Each must be the very text that
// database's Kysely compiled from the builder it replaced, kept here as the reference, so that the
// statement means what it meant and the drivers find the same prepared statements. Kysely's
// parameters are checked against the order the written-out calls lay theirs in; the behaviour suites
// (engine, pg, mariadb, faults) run those calls against each database.
import { afterEach, beforeEach, expect } from "bun:test";
import { sql, type ExpressionBuilder, type Kysely } from "kysely";
import type { Database } from "../../src/db/connect.ts";
import type { DbTime, Schema } from "../../src/db/schema.ts";
import { claimInSteps, claimOwnersSql, claimSql, hasSendableSql, nextDueSql, pruneRecordKeysSql, recordSql } from "../../src/db/queries/claims.ts";
import { pruneKeysSql } from "../../src/db/queries/idempotency.ts";
import { expirySql } from "../../src/db/queries/expiry.ts";
import { perDialect, sqlText } from "../../src/db/sql-text.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { dialectAvailable, forEachDialect } from "../helpers/dialects.ts";

const COLUMNS_BUT_TEXT = [
  "id", "message_id", "subject", "envelope_from", "envelope_to", "priority", "status", "when_added", "retry_count",
  "next_attempt_at", "last_error", "claimed_by", "lease_until", "expires_at", "limited_by",
] as const;

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let db: Database;
  let k: Kysely<Schema>;
  let now: DbTime;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect);
    db = await tq.db();
    k = db.kysely;
    now = db.dialect.toDb(new Date(0));
  });
  afterEach(() => tq?.cleanup());

  // The builders these statements were, as claims.ts and expiry.ts had them.
  const sendableNow = (eb: ExpressionBuilder<Schema, "mailer_message">) =>
    eb.and([
      eb("status", "=", "queued"),
      eb.or([eb("next_attempt_at", "is", null), eb("next_attempt_at", "<=", now)]),
      eb.or([eb("claimed_by", "is", null), eb("lease_until", "is", null), eb("lease_until", "<", now)]),
      eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]),
    ]);
  const pick = (only?: number[]) => {
    const ids = k
      .selectFrom("mailer_message")
      .select("id")
      .where(sendableNow)
      .$if(only !== undefined, (p) => p.where("id", "in", only!))
      .orderBy("priority")
      .orderBy("when_added")
      .orderBy("id")
      .limit(100);
    return db.dialect.capabilities.skipLocked ? ids.forUpdate().skipLocked() : ids;
  };
  const claim = () => ({ claimed_by: "worker", lease_until: now, limited_by: null });
  const listed = sql<unknown>`exists (select 1 from mailer_dontsendentry)`.as("dont_send_listed");
  const version = sql<number>`coalesce((select value from mailer_counter where name = ${sql.lit("dont_send")}), -1)`.as("dont_send_version");
  const due = (eb: ExpressionBuilder<Schema, "mailer_message">) =>
    eb.and([
      eb("expires_at", "is not", null),
      eb("expires_at", "<=", now),
      eb("status", "in", ["queued", "deferred"]),
      eb.or([eb("claimed_by", "is", null), eb("lease_until", "is", null), eb("lease_until", "<", now)]),
    ]);

  it("the claim is the text Kysely compiled for it, with and without a list of ids", () => {
    const d = db.dialect;
    if (d.capabilities.pickAndChange) {
      for (const only of [undefined, [7], [7, 8, 9]]) {
        const update = k.updateTable("mailer_message").set(claim()).where("id", "in", pick(only));
        const reference = d.bytesAsText
          ? update.returning([...COLUMNS_BUT_TEXT, sql<string>`encode(${sql.ref("message_data")}, 'escape')`.as("message_text"), listed, version])
          : update.returningAll().returning([listed, version]);
        const compiled = reference.compile();
        expect(claimSql(d, only?.length ?? null)).toBe(compiled.sql);
        // Parameters as claimBatch lays them out: the claim's, sendableNow's, the ids, the limit.
        expect(compiled.parameters).toEqual(["worker", now, null, "queued", now, now, now, ...(only ?? []), 100]);
      }
    } else {
      for (const only of [undefined, [7, 8]]) {
        const compiled = pick(only).compile();
        expect(claimInSteps.pick(d, only?.length ?? null)).toBe(compiled.sql);
        expect(compiled.parameters).toEqual(["queued", now, now, now, ...(only ?? []), 100]);
      }
      expect(claimInSteps.set(d, 3)).toBe(k.updateTable("mailer_message").set(claim()).where("id", "in", [1, 2, 3]).compile().sql);
      expect(claimInSteps.read(d, 2)).toBe(k.selectFrom("mailer_message").selectAll().select([listed, version]).where("id", "in", [1, 2]).compile().sql);
    }
  });

  it("hasSendable, nextDueAt and claimOwners are the text Kysely compiled for them", () => {
    const d = db.dialect;
    const sendable = k.selectFrom("mailer_message").select("id").where(sendableNow).limit(1).compile();
    expect(hasSendableSql(d)).toBe(sendable.sql);
    expect(sendable.parameters).toEqual(["queued", now, now, now, 1]);
    const next = k
      .selectFrom("mailer_message")
      .select((eb) => eb.fn.min("next_attempt_at").as("next"))
      .where("next_attempt_at", "is not", null)
      .where("next_attempt_at", ">", now)
      .where("status", "in", ["queued", "deferred"])
      .compile();
    expect(nextDueSql(d)).toBe(next.sql);
    expect(next.parameters).toEqual([now, "queued", "deferred"]);
    expect(claimOwnersSql(d)).toBe(k.selectFrom("mailer_message").select("claimed_by").distinct().where("claimed_by", "is not", null).compile().sql);
  });

  it("a record's statements are the text Kysely compiled for them", () => {
    const d = db.dialect;
    let key = k.insertInto("mailer_recordedbatch").values({ key: "k" });
    key = d.capabilities.onConflict ? key.onConflict((oc) => oc.columns(["key"]).doNothing()) : key.ignore();
    expect(recordSql.key(d)).toBe(key.compile().sql);
    const remove = k.deleteFrom("mailer_message").where("id", "in", [1, 2]).where("claimed_by", "=", "worker").compile();
    expect(recordSql.remove(d, 2)).toBe(remove.sql);
    expect(remove.parameters).toEqual([1, 2, "worker"]);
    const changes = [
      { status: "deferred" as const, last_error: "e", next_attempt_at: null },
      { status: "failed" as const, last_error: "e", envelope_to: "a@example.com", message_id: "<m@x>", message_data: new Uint8Array([65]), next_attempt_at: now },
      { status: "queued" as const, last_error: "", next_attempt_at: now, limited_by: "example.com" },
    ];
    for (const values of changes) {
      const change = k.updateTable("mailer_message").set({ ...values, claimed_by: null, lease_until: null }).where("id", "=", 5).where("claimed_by", "=", "worker").compile();
      expect(recordSql.change(d, Object.keys(values))).toBe(change.sql);
      expect(change.parameters).toEqual([...Object.values(values), null, null, 5, "worker"]);
    }
    const release = k.updateTable("mailer_message").set({ claimed_by: null, lease_until: null }).where("id", "in", [1, 2, 3]).where("claimed_by", "=", "worker").compile();
    expect(recordSql.release(d, 3)).toBe(release.sql);
    expect(release.parameters).toEqual([null, null, 1, 2, 3, "worker"]);
  });

  it("a pass's pruning statements are the text Kysely compiled for them", () => {
    const d = db.dialect;
    const keys = k
      .deleteFrom("mailer_idempotencykey")
      .where("created_at", "<", now)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom("mailer_message").select(sql.lit(1).as("one")).whereRef("mailer_message.id", "=", "mailer_idempotencykey.queue_id"))),
      )
      .compile();
    expect(pruneKeysSql(d)).toBe(keys.sql);
    expect(keys.parameters).toEqual([now]);
    const recordKeys = k.deleteFrom("mailer_recordedbatch").where("recorded_at", "<", now).compile();
    expect(pruneRecordKeysSql(d)).toBe(recordKeys.sql);
    expect(recordKeys.parameters).toEqual([now]);
  });

  it("the expiry sweep's statements are the text Kysely compiled for them", () => {
    const d = db.dialect;
    const anyDue = k.selectFrom("mailer_message").select("id").where(due).limit(1).compile();
    expect(expirySql.pick(d)).toBe(anyDue.sql);
    expect(anyDue.parameters).toEqual([now, "queued", "deferred", now, 1]);
    const picked = k.selectFrom("mailer_message").select("id").where(due).limit(500);
    if (d.capabilities.pickAndChange) {
      const ids = d.capabilities.skipLocked ? picked.forUpdate().skipLocked() : picked;
      const remove = k.deleteFrom("mailer_message").where("id", "in", ids).where(due).returningAll().compile();
      expect(expirySql.remove(d, null)).toBe(remove.sql);
      expect(remove.parameters).toEqual([now, "queued", "deferred", now, 500, now, "queued", "deferred", now]);
    } else {
      const remove = k.deleteFrom("mailer_message").where("id", "in", [1, 2]).where(due).returningAll().compile();
      expect(expirySql.remove(d, 2)).toBe(remove.sql);
      expect(remove.parameters).toEqual([1, 2, now, "queued", "deferred", now]);
    }
  });

  it("a text that depends only on the dialect is written once, and placeholders count from one", () => {
    let writes = 0;
    const text = perDialect(({ q, p }) => `${++writes} ${q("a")} ${p()} ${p()}`);
    expect(text(db.dialect)).toBe(text(db.dialect));
    expect(writes).toBe(1);
    expect(sqlText(db.dialect, ({ p, list }) => `${p()} ${list(2)}`)).toBe(
      [1, 2, 3].map((n) => db.dialect.parameter(n)).join(" ").replace(/ (\S+) (\S+)$/, " $1, $2"),
    );
  });
});
