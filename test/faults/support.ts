// Shared pieces of the fault-injection suite: a seeded RNG (every "random" fault point is
// reproducible from the seed printed with a failure), bulk enqueueing, and the queue's final state
// read back as the numbers the suite asserts on.
import type { Database } from "../../src/db/connect.ts";
import { enqueueMessages } from "../../src/queue/enqueue.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";
import type { Bench } from "../helpers/engine.ts";

/** mulberry32: a tiny PRNG with a 32-bit seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` messages with subjects `${prefix}-0…`, in enqueue batches; returns their Message-IDs. */
export async function enqueueMany(db: Database, count: number, prefix = "m", body = "hello"): Promise<string[]> {
  const encoder = new TextEncoder();
  const prepared = Array.from({ length: count }, (_, i) =>
    prepareMessage(encoder.encode(`From: app@example.com\r\nTo: rcpt${i}@example.com\r\nSubject: ${prefix}-${i}\r\n\r\n${body}\r\n`)),
  );
  const outcomes = await enqueueMessages(db, prepared, { batchSize: 500 });
  return outcomes.map((o) => o.messageId);
}

/** Rows by status, and the log rows by result. */
export async function finalState(b: Bench) {
  const rows = await b.messages();
  const logs = await b.logs();
  const by = (status: string) => rows.filter((r) => r.status === status);
  return {
    rows,
    logs,
    queued: by("queued"),
    deferred: by("deferred"),
    failed: by("failed"),
    claimed: rows.filter((r) => r.claimed_by !== null),
  };
}

/** `mailer status --json`, parsed. */
export async function statusJson(b: Bench): Promise<Record<string, any>> {
  const run = await b.run(["status", "--json"]);
  if (run.code !== 0) throw new Error(`status --json exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}
