// A slow send renews its batch's lease: while a send is held open past the lease, no other worker
// can claim the message (nor the batch's other messages, sent but not yet recorded), and the
// outcome is recorded once. On both databases, in-process with a transport the test holds.
import { afterEach, expect } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { fromDbTime } from "../../src/db/dialect.ts";
import { claimBatch } from "../../src/db/queries/claims.ts";
import { runPass } from "../../src/engine/pass.ts";
import { memoryLogger } from "../../src/log.ts";
import type { OutgoingMessage, SendResult, Transport } from "../../src/transports/types.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

/** The first send stays open until `release()`; later ones answer at once. */
function slowFirstSend() {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const inFlight = new Promise<void>((r) => (started = r));
  let sends = 0;
  const transport: Transport = {
    name: "slow",
    async send(m: OutgoingMessage): Promise<SendResult> {
      if (sends++ === 0) {
        started();
        await held;
      }
      return { accepted: m.envelope.to, rejected: [], response: "250 ok" };
    },
    async close() {},
  };
  return { transport, inFlight, release };
}

forEachDialect((dialect, it) => {
  it("a send outlasting the lease keeps its batch claimed; nobody else takes it; recorded once", async () => {
    // pool 2: the second message is sent (not yet recorded) while the first is still in flight.
    b = await bench(dialect, { delivery: { lease: 1.5 }, backend: { pool: 2 } });
    const ids = [await b.enqueue({ subject: "slow" }), await b.enqueue({ subject: "quick" })];
    const { config } = loadConfig({ path: b.configPath, env: {} });
    const slow = slowFirstSend();
    const pass = runPass({ config, logger: memoryLogger(), db: b.db, transportFactory: async () => slow.transport });
    await slow.inFlight;
    const claimed = await b.messages();
    const firstLease = Math.max(...claimed.map((r) => fromDbTime(r.lease_until).getTime()));
    // Wait (with a deadline) until the original lease is well past: without renewal both messages
    // would now be free for the taking.
    while (Date.now() < firstLease + 700) await Bun.sleep(50);
    const { rows: rival } = await claimBatch(b.db, "rival-host:1:x", 10, new Date(), new Date(Date.now() + 60_000));
    expect(rival).toEqual([]);
    const during = await b.messages();
    expect(during.every((r) => fromDbTime(r.lease_until).getTime() > Date.now())).toBe(true);
    slow.release();
    const result = await pass;
    expect(result.sent).toBe(2);
    expect(await b.messages()).toEqual([]);
    const logs = await b.logs();
    expect(logs.map((l) => [l.queue_id, l.result]).sort()).toEqual(ids.map((id) => [id, "success"]).sort());
  });
});
