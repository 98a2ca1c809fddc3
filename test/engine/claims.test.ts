// Claims under a lease (SPEC §5), on both databases: disjoint claims between concurrent workers,
// lease expiry, what is never claimed, and recording guarded by the claim.
import { afterEach, expect } from "bun:test";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { claimBatch, hasSendable, pruneRecordKeys, recordBatch } from "../../src/db/queries/claims.ts";
import { dontSendVersion } from "../../src/db/queries/dont-send-state.ts";
import { pruneKeys } from "../../src/db/queries/idempotency.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, firstTransactionADeadlockVictim, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
let extra: Database[] = [];
afterEach(async () => {
  for (const db of extra) await db.close();
  extra = [];
  await b?.cleanup();
  b = null;
});

const later = (s: number) => new Date(Date.now() + s * 1000);

forEachDialect((dialect, it) => {
  it("workers claiming at the same moment get disjoint messages, each batch in queue order", async () => {
    b = await bench(dialect);
    for (let i = 0; i < 60; i++) await b.enqueue({ priority: ((i % 3) + 1) as 1 | 2 | 3 });
    const handles = [b.db];
    for (let i = 0; i < 4; i++) handles.push(await openDatabase(b.url));
    extra = handles.slice(1);
    const batches = await Promise.all(handles.map((db, i) => claimBatch(db, `host:1:w${i}`, 12, new Date(), later(300)).then((c) => c.rows)));
    const ids = batches.flat().map((r) => r.id);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    for (const batch of batches) {
      const keys = batch.map((r) => [r.priority, r.id]);
      expect(keys).toEqual([...keys].sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!));
    }
    expect(await hasSendable(b.db, new Date())).toBe(false);
  });

  it("a claimed row holds every column of the row as stored, its text byte for byte", async () => {
    b = await bench(dialect);
    const id = await b.enqueue({ priority: 1 });
    const { rows } = await claimBatch(b.db, "here:2:c", 10, new Date(), later(300));
    const stored = await b.db.kysely.selectFrom("mailer_message").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
    const claimed = rows[0]!;
    expect(Object.keys(claimed).filter((k) => !k.startsWith("dont_send_")).sort()).toEqual(Object.keys(stored).sort());
    expect(Buffer.from(claimed.message_data).equals(Buffer.from(stored.message_data))).toBe(true);
    expect({ ...claimed, message_data: null }).toMatchObject({ ...stored, message_data: null });
  });

  it("a claim whose lease expired is reclaimed by anyone; a live one is left alone", async () => {
    b = await bench(dialect);
    const expired = await b.enqueue();
    const live = await b.enqueue();
    const free = await b.enqueue();
    const t = b.db.dialect.toDb;
    await b.db.kysely.updateTable("mailer_message").set({ claimed_by: "far:1:a", lease_until: t(later(-1)) }).where("id", "=", expired).execute();
    await b.db.kysely.updateTable("mailer_message").set({ claimed_by: "far:1:b", lease_until: t(later(60)) }).where("id", "=", live).execute();
    const { rows } = await claimBatch(b.db, "here:2:c", 10, new Date(), later(300));
    expect(rows.map((r) => r.id)).toEqual([expired, free]);
    expect(rows.every((r) => r.claimed_by === "here:2:c")).toBe(true);
  });

  it("deferred, failed and not-yet-due messages are never claimed", async () => {
    b = await bench(dialect);
    const ids = [await b.enqueue(), await b.enqueue(), await b.enqueue(), await b.enqueue()];
    const q = b.db.kysely.updateTable("mailer_message");
    await q.set({ status: "deferred" }).where("id", "=", ids[0]!).execute();
    await q.set({ status: "failed" }).where("id", "=", ids[1]!).execute();
    await q.set({ next_attempt_at: b.db.dialect.toDb(later(3600)) }).where("id", "=", ids[2]!).execute();
    const { rows } = await claimBatch(b.db, "here:2:c", 10, new Date(), later(300));
    expect(rows.map((r) => r.id)).toEqual([ids[3]!]);
  });

  it("recording only touches rows still claimed by the recorder, but always writes its log rows", async () => {
    b = await bench(dialect);
    const id = await b.enqueue();
    await claimBatch(b.db, "a:1:x", 10, new Date(), later(300));
    // The lease ran out and worker b took the message over.
    await b.db.kysely.updateTable("mailer_message").set({ claimed_by: "b:1:y" }).execute();
    const [row] = await b.messages();
    await recordBatch(b.db, "a:1:x", {
      logs: [{
        queue_id: id, message_data: null, message_id: row!.message_id, subject: "", envelope_from: "", envelope_to: "",
        when_added: row!.when_added, priority: 2, retry_count: 0, result: "success", log_message: "",
      }],
      remove: [id], change: [], release: [],
    });
    expect((await b.messages()).map((r) => r.claimed_by)).toEqual(["b:1:y"]);
    expect(await b.logs()).toHaveLength(1);
  });

  it("a record committed once writes nothing when it is written again with its key; old keys are pruned", async () => {
    b = await bench(dialect);
    const ids = [await b.enqueue(), await b.enqueue()];
    const { rows } = await claimBatch(b.db, "a:1:x", 10, new Date(), later(300));
    const log = (id: number) => ({
      queue_id: id, message_data: null, message_id: null, subject: "", envelope_from: "", envelope_to: "",
      when_added: rows[0]!.when_added, priority: 2, retry_count: 0, result: "success" as const, log_message: "",
    });
    const record = { key: "batch-1", logs: [log(ids[0]!)], remove: [ids[0]!], change: [], release: [ids[1]!] };
    await recordBatch(b.db, "a:1:x", record);
    // The same record again (its first commit's acknowledgement was lost): nothing more is written.
    await claimBatch(b.db, "a:1:x", 10, new Date(), later(300));
    await recordBatch(b.db, "a:1:x", record);
    expect(await b.logs()).toHaveLength(1);
    expect((await b.messages()).map((m) => m.claimed_by)).toEqual(["a:1:x"]);
    // Another key is another record.
    await recordBatch(b.db, "a:1:x", { key: "batch-2", logs: [log(ids[1]!)], remove: [ids[1]!], change: [], release: [] });
    expect(await b.logs()).toHaveLength(2);
    expect(await pruneRecordKeys(b.db, later(-60))).toBe(0);
    expect(await pruneRecordKeys(b.db, later(60))).toBe(2);
  });

  it("pruning forgets idempotency keys older than the cutoff whose message has left the queue, and no other", async () => {
    b = await bench(dialect);
    await b.enqueue();
    const [queued] = await b.messages();
    const at = (s: number) => b!.db.dialect.toDb(later(s));
    await b.db.kysely
      .insertInto("mailer_idempotencykey")
      .values([
        { key: "old, message gone", queue_id: queued!.id + 1000, created_at: at(-7200) },
        { key: "old, message queued", queue_id: queued!.id, created_at: at(-7200) },
        { key: "new, message gone", queue_id: queued!.id + 1001, created_at: at(0) },
      ])
      .execute();
    expect(await pruneKeys(b.db, later(-3600))).toBe(1);
    const left = await b.db.kysely.selectFrom("mailer_idempotencykey").select("key").orderBy("key").execute();
    expect(left.map((r) => r.key)).toEqual(["new, message gone", "old, message queued"]);
    expect(await pruneKeys(b.db, later(-3600))).toBe(0);
  });

  it("the don't-send counter moves with every change to the list, whoever makes it", async () => {
    b = await bench(dialect);
    const version = () => dontSendVersion(b!.db.kysely);
    const seen = [await version()];
    const list = b.db.kysely;
    await list.insertInto("mailer_dontsendentry").values({ to_address: "a@example.com" }).execute();
    seen.push(await version());
    await list.updateTable("mailer_dontsendentry").set({ to_address: "b@example.com" }).execute();
    seen.push(await version());
    await list.deleteFrom("mailer_dontsendentry").execute();
    seen.push(await version());
    expect(new Set(seen).size).toBe(4);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
    // A claim reports the counter it saw.
    await b.enqueue();
    expect((await claimBatch(b.db, "a:1:x", 10, new Date(), later(300))).dontSendVersion).toBe(seen[3]!);
  });
});

forEachDialect(
  (dialect, it) => {
    it("a claim in steps (pick, set, read) that is a deadlock's victim is run again, and claims its messages", async () => {
      b = await bench(dialect);
      const id = await b.enqueue({ subject: "one" });
      const transactions = firstTransactionADeadlockVictim(b.db, dialect);
      const claimed = await claimBatch(b.db, "host:1:w", 10, new Date(), later(300));
      expect(claimed.rows.map((r) => r.id)).toEqual([id]);
      expect(transactions.begun).toBe(2);
    });
  },
  ["mariadb"],
);
