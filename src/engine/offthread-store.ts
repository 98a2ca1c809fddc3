// A BatchStore whose statements run on a worker thread with its own database connection.
//
// Why: the SMTP client is CPU-bound on its thread (a bare nodemailer pool uses a whole core to reach
// its rate), so every millisecond spent there running SQLite statements (bun:sqlite is synchronous)
// or parsing PostgreSQL replies is a millisecond the connections wait. Claims and records of a
// draining pass run on the other core instead. Nothing about them changes: the same functions, the
// same transactions, the same claims guarded by the pass's worker identity; only the thread.
import type { BatchRecord, ClaimedRow } from "../db/queries/claims.ts";
import { sourceUrl } from "../runtime.ts";
import type { BatchStore, ClaimedBatch } from "./batch-store.ts";
import { errorFromWire, packRecord, unpackRows, type Packed, type WireError } from "./store-wire.ts";

export interface OffThreadOptions {
  url: string;
  busyTimeout: number;
  /** The pass's worker identity (claimed_by). */
  worker: string;
  /** Takes over if the thread dies (the same statements on this thread's connection). */
  fallback: BatchStore;
  /** The worker script; tests substitute one that fails on purpose. */
  script?: string;
}

/** Starts the worker and opens its database; throws (and leaves nothing running) if either fails. */
export async function offThreadStore(options: OffThreadOptions): Promise<BatchStore> {
  const thread = new Worker(options.script ?? sourceUrl("engine/store-worker.ts"), { type: "module" });
  const pending = new Map<number, { resolve(value: any): void; reject(error: Error): void }>();
  let broken: Error | null = null;
  let next = 0;
  thread.onmessage = ({ data }: MessageEvent<{ id: number; value?: unknown; error?: WireError }>) => {
    const call = pending.get(data.id);
    pending.delete(data.id);
    if (data.error) call?.reject(errorFromWire(data.error));
    else call?.resolve(data.value);
  };
  const fail = (why: string) => {
    broken ??= new Error(`the database worker thread ${why}`);
    for (const call of pending.values()) call.reject(broken);
    pending.clear();
  };
  thread.onerror = (event: ErrorEvent) => fail(`failed: ${event.message}`);
  thread.addEventListener("close", () => fail("ended"));
  const call = <T>(op: string, args: unknown, transfer: ArrayBuffer[] = []): Promise<T> =>
    broken
      ? Promise.reject(broken)
      : new Promise<T>((resolve, reject) => {
          const id = next++;
          pending.set(id, { resolve, reject });
          thread.postMessage({ id, op, args }, transfer);
        });

  try {
    await call("open", { url: options.url, busyTimeout: options.busyTimeout, worker: options.worker });
  } catch (error) {
    thread.terminate();
    throw error;
  }
  const { fallback } = options;
  return {
    async claim(size: number, now: Date, leaseUntil: Date): Promise<ClaimedBatch> {
      if (broken) return fallback.claim(size, now, leaseUntil);
      const reply = await call<{ rows: Packed<ClaimedRow>; suppressed: string[]; version: number }>("claim", { size, now, leaseUntil });
      return { rows: unpackRows(reply.rows), dontSend: { suppressed: new Set(reply.suppressed), version: reply.version } };
    },
    async record(record: BatchRecord): Promise<void> {
      // A record the thread died in the middle of fails as any database error would (the pass
      // retries it); from then on the fallback writes.
      if (broken) return fallback.record(record);
      const packed = packRecord(record);
      await call("record", packed, [packed.logs, packed.changes]);
    },
    async close(): Promise<void> {
      try {
        if (!broken) await call("close", null);
      } finally {
        thread.terminate();
      }
    },
  };
}
