// Probe: what the queue's own statements cost per message, without SMTP. Claims and records every
// message of a queue in batches, as a pass's store does (claimBatch + buildRecord +
// recordBatch), and prints the time spent in each. Point it at a copy: it empties the queue.
//
//   bun scripts/bench/probes/store-cycle.ts sqlite:/tmp/copy.db [batch=100]
//   bun scripts/bench/probes/store-cycle.ts postgres://postgres@127.0.0.1:5432/copy
//   bun scripts/bench/probes/store-cycle.ts mysql://root@127.0.0.1:3306/copy
import { openDatabase } from "../../../src/db/connect.ts";
import { claimBatch, recordBatch } from "../../../src/db/queries/claims.ts";
import { splitRecipients } from "../../../src/db/queries/messages.ts";
import type { Attempt } from "../../../src/engine/attempt.ts";
import { buildRecord } from "../../../src/engine/record.ts";

const [url, batchArg] = process.argv.slice(2);
if (!url) {
  process.stderr.write("usage: store-cycle.ts DATABASE_URL [batch]\n");
  process.exit(64);
}
const batch = Number(batchArg ?? 100);
const db = await openDatabase(url);
const worker = `probe:${process.pid}`;
const ms = { claim: 0, record: 0 };
let messages = 0;
for (;;) {
  let t = performance.now();
  const { rows } = await claimBatch(db, worker, batch, new Date(), new Date(Date.now() + 600_000));
  ms.claim += performance.now() - t;
  if (rows.length === 0) break;
  // Every message delivered to all of its recipients, as in a drain to a sink that accepts all.
  const attempts = rows.map((row): Attempt => ({
    row, raw: row.message_data, messageId: row.message_id, delivered: splitRecipients(row.envelope_to), deliveredNote: "",
    suppressed: [], remaining: [], state: "done", error: "",
  }));
  const record = buildRecord(attempts, [], { logMessageData: true, toDb: db.dialect.toDb });
  t = performance.now();
  await recordBatch(db, worker, record);
  ms.record += performance.now() - t;
  messages += rows.length;
}
await db.close();
const per = (v: number) => (messages ? ((v / messages) * 1000).toFixed(1) : "-");
console.log(`${messages} messages in batches of ${batch}: claim ${ms.claim.toFixed(0)} ms (${per(ms.claim)} µs/msg), record ${ms.record.toFixed(0)} ms (${per(ms.record)} µs/msg)`);
