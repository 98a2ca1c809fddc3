// The pass's database worker thread (offthread-store.ts): what crosses to it and back keeps its bytes
// and its error codes, a database it cannot open is an error the pass can act on, and a thread that
// dies hands its work to the fallback store instead of stalling the pass.
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import type { BatchRecord, ClaimedRow } from "../../src/db/queries/claims.ts";
import type { BatchStore } from "../../src/engine/batch-store.ts";
import { offThreadStore } from "../../src/engine/offthread-store.ts";
import { errorFromWire, errorToWire, packRecord, packRows, unpackRecord, unpackRows } from "../../src/engine/store-wire.ts";
import { tempDir } from "../helpers/db.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const bytes = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));

function row(id: number, data: Uint8Array): ClaimedRow {
  return {
    id, message_data: data, message_id: `<${id}@x>`, subject: `s${id}`, envelope_from: "a@x", envelope_to: "b@x", priority: 2,
    status: "queued", when_added: "2026-11-30T00:00:00.000Z", retry_count: 0, next_attempt_at: null, last_error: "",
    claimed_by: "w", lease_until: "2026-11-30T00:05:00.000Z",
  } as ClaimedRow;
}

test("rows and records cross the thread boundary with every byte of their texts, views included", () => {
  const big = bytes("xx\r\n.\xff\x00tail");
  const rows = [row(1, bytes("one\r\n")), row(2, big.subarray(2, 8)), row(3, new Uint8Array(0))];
  const packed = packRows(rows);
  const back = unpackRows(structuredClone(packed, { transfer: [packed.blob] }));
  expect(back.map((r) => Buffer.from(r.message_data).toString("latin1"))).toEqual(["one\r\n", "\r\n.\xff\x00t", ""]);
  expect(back.map((r) => r.subject)).toEqual(["s1", "s2", "s3"]);

  const record: BatchRecord = {
    logs: [{ queue_id: 1, message_data: bytes("logged"), message_id: "<1@x>", subject: "s1", envelope_from: "a@x", envelope_to: "b@x", when_added: "t", priority: 2, retry_count: 0, result: "success", log_message: "" },
      { queue_id: 2, message_data: null, message_id: null, subject: "s2", envelope_from: "", envelope_to: "b@x", when_added: "t", priority: 2, retry_count: 0, result: "failure", log_message: "451" }],
    remove: [1], change: [{ id: 2, status: "deferred", last_error: "451", message_id: "<2@x>", message_data: bytes("with id") }], release: [3],
  };
  const wire = packRecord(record);
  const got = unpackRecord(structuredClone(wire, { transfer: [wire.logs, wire.changes] }));
  expect(Buffer.from(got.logs[0]!.message_data!).toString()).toBe("logged");
  expect(got.logs[1]!.message_data).toBeNull();
  expect(Buffer.from(got.change[0]!.message_data!).toString()).toBe("with id");
  expect({ remove: got.remove, release: got.release }).toEqual({ remove: [1], release: [3] });
});

test("an error from the thread keeps the code that tells a database outage from a bug", () => {
  const original = Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY", errno: 5 });
  const back = errorFromWire(structuredClone(errorToWire(original)));
  expect(back).toBeInstanceOf(Error);
  expect(back).toMatchObject({ message: "database is locked", code: "SQLITE_BUSY", errno: 5 });
  expect(errorFromWire(errorToWire("a string thrown"))).toMatchObject({ message: "a string thrown" });
});

test("a database the thread cannot open fails offThreadStore with the database's error", async () => {
  const dir = tempDir();
  cleanups.push(() => dir.cleanup());
  const unused: BatchStore = { claim: async () => ({ rows: [], dontSend: { suppressed: new Set(), version: 0 } }), record: async () => {}, close: async () => {} };
  const opening = offThreadStore({ url: `sqlite:${dir.path}/no/such/dir/q.db`, busyTimeout: 100, worker: "w", fallback: unused });
  await expect(opening).rejects.toThrow(/unable to open|cannot open|no such/i);
});

test("when the thread dies, the call in flight fails like a database error and the fallback takes over", async () => {
  const calls: string[] = [];
  const fallback: BatchStore = {
    async claim() {
      calls.push("claim");
      return { rows: [row(7, bytes("from the fallback"))], dontSend: { suppressed: new Set(), version: 0 } };
    },
    async record() {
      calls.push("record");
    },
    close: async () => {},
  };
  const store = await offThreadStore({
    url: "sqlite::memory:", busyTimeout: 100, worker: "w", fallback,
    script: join(import.meta.dir, "../helpers/dying-store-worker.ts"),
  });
  cleanups.push(() => store.close());
  await expect(store.claim(10, new Date(), new Date())).rejects.toThrow(/database worker thread/);
  const claimed = await store.claim(10, new Date(), new Date());
  expect(claimed.rows.map((r) => r.id)).toEqual([7]);
  await store.record({ logs: [], remove: [7], change: [], release: [] });
  expect(calls).toEqual(["claim", "record"]);
});
