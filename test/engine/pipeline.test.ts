// The pipelined pass: batches overlap (the next one is claimed, and its first sends start, while the
// previous one finishes and is recorded), a backlog's claims and records move to a worker thread, and
// none of it changes what ends up delivered, logged and left in the queue.
import { afterEach, expect } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { runPass, type EngineEnv } from "../../src/engine/pass.ts";
import type { EngineObserver } from "../../src/engine/observer.ts";
import { memoryLogger } from "../../src/log.ts";
import type { OutgoingMessage, SendResult, Transport } from "../../src/transports/types.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import type { Dialect } from "../helpers/db.ts";
import { bench, type Bench, type Sections } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

const ok = (m: OutgoingMessage): SendResult => ({ accepted: m.envelope.to, rejected: [], response: "250 ok" });

function env(bench: Bench, transport: Transport, more: Partial<EngineEnv> = {}): EngineEnv {
  const { config } = loadConfig({ path: bench.configPath, env: {} });
  return { config, logger: memoryLogger(), db: bench.db, transportFactory: async () => transport, ...more };
}

async function setup(dialect: Dialect, extra: Sections, count: number) {
  b = await bench(dialect, extra);
  for (let i = 0; i < count; i++) await b.enqueue({ subject: `m${String(i).padStart(3, "0")}` });
  return b;
}

/** Sends stay pending until the test settles them; `subjects` says which are in flight. */
function heldTransport() {
  const pending: Array<{ subject: string; done(): void }> = [];
  let wake = () => {};
  const transport: Transport = {
    name: "held",
    send: (message) =>
      new Promise((resolve) => {
        const subject = /^Subject: (.*)$/m.exec(Buffer.from(message.raw).toString())![1]!.trim();
        pending.push({ subject, done: () => resolve(ok(message)) });
        wake();
      }),
    async close() {},
  };
  const until = async (test: () => boolean) => {
    while (!test()) await new Promise<void>((r) => (wake = r));
  };
  return { transport, pending, until };
}

forEachDialect((dialect, it) => {
  it("a place freed by the last sends of a batch goes to the next batch's first message at once", async () => {
    const bench = await setup(dialect, { backend: { pool: 2 }, delivery: { claim_batch: 3 } }, 5);
    const held = heldTransport();
    const pass = runPass(env(bench, held.transport));
    await held.until(() => held.pending.length === 2); // m000, m001
    held.pending.shift()!.done(); // m000 done: m002, the last of batch 1, starts
    await held.until(() => held.pending.some((p) => p.subject === "m002"));
    held.pending.shift()!.done(); // m001 done: its place goes to m003 (batch 2) while m002 is still out
    await held.until(() => held.pending.some((p) => p.subject === "m003"));
    expect(held.pending.map((p) => p.subject)).toEqual(["m002", "m003"]);
    while (held.pending.length > 0 || !(await Promise.race([pass.then(() => true), Bun.sleep(5).then(() => false)]))) {
      held.pending.shift()?.done();
    }
    expect(await pass).toMatchObject({ sent: 5, stoppedBy: null });
    expect(await bench.messages()).toHaveLength(0);
    expect((await bench.logs()).map((l) => l.subject)).toEqual(["m000", "m001", "m002", "m003", "m004"]);
  });

  it("a backlog is claimed and recorded on a worker thread, with the same outcome as on this one", async () => {
    const bench = await setup(dialect, { backend: { pool: 3 }, delivery: { claim_batch: 4 } }, 23);
    const sent: string[] = [];
    const transport: Transport = {
      name: "record",
      async send(m) {
        await Bun.sleep(1);
        sent.push(/^Subject: (.*)$/m.exec(Buffer.from(m.raw).toString())![1]!.trim());
        return ok(m);
      },
      async close() {},
    };
    const e = env(bench, transport);
    expect(await runPass(e)).toMatchObject({ sent: 23, deferred: 0, stoppedBy: null });
    expect((e.logger as ReturnType<typeof memoryLogger>).lines.join("\n")).toContain("moved to a database worker thread");
    // Started in queue order, each exactly once; every outcome recorded, nothing left claimed.
    expect(sent.toSorted()).toEqual(Array.from({ length: 23 }, (_, i) => `m${String(i).padStart(3, "0")}`));
    expect(new Set(sent).size).toBe(23);
    expect(await bench.messages()).toHaveLength(0);
    const logs = await bench.logs();
    expect(logs).toHaveLength(23);
    expect(logs.every((l) => l.result === "success" && Buffer.from(l.message_data).toString().includes(`Subject: ${l.subject}`))).toBe(true);
  });

  it("a batch smaller than asked for is not claimed ahead of: the next claim comes after its sends, and takes what arrived meanwhile", async () => {
    // A caught-up queue (runmailer-pg's notified message): a claim ahead would only race the send for
    // the database and find nothing, and mail queued during the send would wait for the next pass.
    // (On SQLite a claim's statement runs the moment it is issued, so a claim ahead shows up here
    // before m000 is released for certain; on a server it may land either side of the release.)
    const bench = await setup(dialect, { backend: { pool: 2 }, delivery: { claim_batch: 3 } }, 1);
    const held = heldTransport();
    const events: string[] = [];
    const observer: EngineObserver = { claimed: (_s, rows) => void events.push(`claimed ${rows}`), recorded() {}, outcome() {}, passFinished() {} };
    const pass = runPass(env(bench, held.transport, { observer }));
    const release = () => {
      const send = held.pending.shift()!;
      events.push(`sent ${send.subject}`);
      send.done();
    };
    await held.until(() => held.pending.length === 1);
    await bench.enqueue({ subject: "m001" });
    release();
    await held.until(() => held.pending.length === 1);
    release();
    expect(await pass).toMatchObject({ sent: 2, stoppedBy: null });
    expect(events).toEqual(["claimed 1", "sent m000", "claimed 1", "sent m001", "claimed 0"]);
    expect((await bench.logs()).map((l) => l.subject)).toEqual(["m000", "m001"]);
  });

  it("a deferral on the worker thread keeps its row, with the error and no claim", async () => {
    const bench = await setup(dialect, { backend: { pool: 2 }, delivery: { claim_batch: 3 } }, 9);
    const transport: Transport = {
      name: "picky",
      async send(m) {
        if (Buffer.from(m.raw).toString().includes("Subject: m007")) throw Object.assign(new Error("451 try later"), { responseCode: 451 });
        return ok(m);
      },
      async close() {},
    };
    expect(await runPass(env(bench, transport))).toMatchObject({ sent: 8, deferred: 1 });
    const rows = await bench.messages();
    expect(rows.map((r) => [r.subject, r.status, r.claimed_by])).toEqual([["m007", "deferred", null]]);
    expect(rows[0]!.last_error).toContain("451 try later");
  });
});

forEachDialect((dialect, it) => {
  it("waiting for a free place adds no abort listener per message (runmailer's signal lives for the whole run)", async () => {
    const bench = await setup(dialect, { backend: { pool: 1 } }, 40);
    const controller = new AbortController();
    let added = 0;
    const addEventListener = controller.signal.addEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((...args: Parameters<typeof addEventListener>) => {
      added++;
      return addEventListener(...args);
    }) as typeof addEventListener;
    const transport: Transport = { name: "ok", send: async (m) => ok(m), async close() {} };
    expect(await runPass(env(bench, transport, {}), { signal: controller.signal })).toMatchObject({ sent: 40 });
    expect(added).toBeLessThan(5);
  });
});
