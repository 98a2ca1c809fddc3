// runPass in-process, with test transports whose sends the test controls: concurrency caps, limits
// under concurrency, signals, handler failures with sends in flight, and the lease safety margin.
import { afterEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { openDatabase } from "../../src/db/connect.ts";
import { passAndDecide } from "../../src/engine/loop.ts";
import { loadConfig } from "../../src/config/load.ts";
import { requeueDeferred } from "../../src/db/queries/maintenance.ts";
import { HandlerFailure } from "../../src/engine/error-handler.ts";
import { runPass, type EngineEnv } from "../../src/engine/pass.ts";
import { memoryLogger } from "../../src/log.ts";
import type { OutgoingMessage, SendResult, Transport } from "../../src/transports/types.ts";
import postgres from "postgres";
import { mariadbAdmin } from "../helpers/db.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, type Bench, type Sections } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

const ok = (m: OutgoingMessage): SendResult => ({ accepted: m.envelope.to, rejected: [], response: "250 ok" });
const smtpError = (code: number) => Object.assign(new Error(`${code} try later`), { responseCode: code });

function env(bench: Bench, transport: Transport, more: Partial<EngineEnv> = {}): EngineEnv {
  const { config } = loadConfig({ path: bench.configPath, env: {} });
  return { config, logger: memoryLogger(), db: bench.db, transportFactory: async () => transport, ...more };
}

/** Answers each send after a few milliseconds (or as `decide` says), counting sends in flight. */
function timedTransport(decide: (m: OutgoingMessage) => SendResult | Error = ok) {
  const stats = { inFlight: 0, maxInFlight: 0, sent: [] as string[] };
  const transport: Transport = {
    name: "timed",
    async send(m) {
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      await Bun.sleep(5);
      stats.inFlight--;
      const answer = decide(m);
      if (answer instanceof Error) throw answer;
      stats.sent.push(Buffer.from(m.raw).toString());
      return answer;
    },
    async close() {},
  };
  return { transport, stats };
}

/** Sends stay pending until the test settles them. */
function heldTransport() {
  const pending: Array<{ message: OutgoingMessage; resolve(r: SendResult): void; reject(e: unknown): void }> = [];
  let wake = () => {};
  const transport: Transport = {
    name: "held",
    send: (message) =>
      new Promise((resolve, reject) => {
        pending.push({ message, resolve, reject });
        wake();
      }),
    async close() {},
  };
  const waitFor = async (n: number) => {
    while (pending.length < n) await new Promise<void>((r) => (wake = r));
  };
  return { transport, pending, waitFor };
}

async function setup(extra: Sections, count: number) {
  b = await bench("sqlite", extra);
  for (let i = 0; i < count; i++) await b.enqueue({ subject: `m${i}` });
  return b;
}

test("never more than backend.pool sends in flight", async () => {
  const bench = await setup({ backend: { pool: 3 } }, 10);
  const { transport, stats } = timedTransport();
  const result = await runPass(env(bench, transport));
  expect(result.sent).toBe(10);
  expect(stats.maxInFlight).toBe(3);
});

test("max_batch holds with several sends in flight", async () => {
  const bench = await setup({ backend: { pool: 4 }, delivery: { max_batch: 5 } }, 12);
  const { transport } = timedTransport();
  const result = await runPass(env(bench, transport));
  expect(result).toMatchObject({ sent: 5, stoppedBy: "max_batch" });
  const rows = await bench.messages();
  expect(rows).toHaveLength(7);
  expect(rows.every((r) => r.claimed_by === null && r.status === "queued")).toBe(true);
});

test("max_batch counts only what was sent: a deferral frees its place", async () => {
  const bench = await setup({ backend: { pool: 2 }, delivery: { max_batch: 3 } }, 8);
  let n = 0;
  const { transport } = timedTransport((m) => (n++ % 2 === 0 ? smtpError(451) : ok(m)));
  const result = await runPass(env(bench, transport));
  expect(result.sent).toBe(3);
  expect(result.stoppedBy).toBe("max_batch");
});

test("throttle > 0 sends one at a time even with pool > 1", async () => {
  const bench = await setup({ backend: { pool: 4 }, delivery: { throttle: 0.01 } }, 4);
  const { transport, stats } = timedTransport();
  expect((await runPass(env(bench, transport))).sent).toBe(4);
  expect(stats.maxInFlight).toBe(1);
});

test("a throttled pass records each message before it sleeps, and a signal cuts the sleep short", async () => {
  const bench = await setup({ delivery: { throttle: 100 } }, 2);
  const { transport } = timedTransport();
  const controller = new AbortController();
  let finished = false;
  const pass = runPass(env(bench, transport), { signal: controller.signal }).finally(() => (finished = true));
  while ((await bench.logs()).length === 0) await Bun.sleep(10);
  expect(finished).toBe(false); // asleep, with the first message already recorded
  expect((await bench.messages()).map((r) => r.subject)).toEqual(["m1"]);
  controller.abort();
  expect(await pass).toMatchObject({ sent: 1, stoppedBy: "signal" });
  expect((await bench.messages())[0]!.claimed_by).toBeNull();
});

test("an abort lets the sends in flight finish and be recorded, and gives back the rest", async () => {
  const bench = await setup({ backend: { pool: 2 } }, 5);
  const held = heldTransport();
  const controller = new AbortController();
  const pass = runPass(env(bench, held.transport), { signal: controller.signal });
  await held.waitFor(2);
  controller.abort();
  for (const p of held.pending) p.resolve(ok(p.message));
  const result = await pass;
  expect(result).toMatchObject({ sent: 2, stoppedBy: "signal" });
  const rows = await bench.messages();
  expect(rows.map((r) => [r.subject, r.status, r.claimed_by])).toEqual([
    ["m2", "queued", null],
    ["m3", "queued", null],
    ["m4", "queued", null],
  ]);
  expect(await bench.logs()).toHaveLength(2);
});

test("a throwing handler with another send in flight: that send is recorded, the message stays queued", async () => {
  const bench = await setup({ backend: { pool: 2 } }, 3);
  const held = heldTransport();
  const errorHandler = () => {
    throw new Error("handler bug");
  };
  const pass = runPass(env(bench, held.transport, { errorHandler }));
  await held.waitFor(2);
  held.pending[0]!.reject(smtpError(451));
  // The other send settles once the handler has thrown: settled first, it would free its slot for m2
  // before the pass knew to stop (how many turns each path takes is not what this test is about).
  await Bun.sleep(50);
  held.pending[1]!.resolve(ok(held.pending[1]!.message));
  const error = await pass.then(() => null, (e) => e);
  expect(error).toBeInstanceOf(HandlerFailure);
  expect(error.exitCode).toBe(70);
  const rows = await bench.messages();
  expect(rows.map((r) => [r.subject, r.status, r.claimed_by])).toEqual([
    ["m0", "queued", null],
    ["m2", "queued", null],
  ]);
  expect((await bench.logs()).map((l) => [l.subject, l.result])).toEqual([["m1", "success"]]);
});

test("a partial rejection and a throwing handler: the delivered recipients are struck off, the rest stays queued", async () => {
  b = await bench("sqlite");
  await b.enqueue({ to: ["a@example.com", "b@example.com"] });
  const transport: Transport = {
    name: "partial",
    send: async () => ({ accepted: ["a@example.com"], rejected: ["b@example.com"], response: "250" }),
    async close() {},
  };
  const errorHandler = () => {
    throw new Error("handler bug");
  };
  await expect(runPass(env(b, transport, { errorHandler }))).rejects.toBeInstanceOf(HandlerFailure);
  const [row] = await b.messages();
  expect([row!.status, row!.envelope_to, row!.claimed_by]).toEqual(["queued", "b@example.com", null]);
  expect((await b.logs()).map((l) => [l.result, l.envelope_to])).toEqual([["success", "a@example.com"]]);
});

test("no new send starts once half the lease is spent: the rest of the batch is recorded and re-claimed", async () => {
  const bench = await setup({ delivery: { lease: 10, claim_batch: 10 } }, 3);
  let now = Date.now();
  const claimedAtEachSend: number[] = [];
  const transport: Transport = {
    name: "slow",
    async send(m) {
      const claimed = await bench.db.kysely.selectFrom("mailer_message").select("id").where("claimed_by", "is not", null).execute();
      claimedAtEachSend.push(claimed.length);
      now += 6_000; // each send takes 6 s of the 10 s lease
      return ok(m);
    },
    async close() {},
  };
  const result = await runPass(env(bench, transport, { clock: () => new Date(now) }));
  expect(result.sent).toBe(3);
  // Each send ran under a fresh claim of what was left, not under the first, expiring one.
  expect(claimedAtEachSend).toEqual([3, 2, 1]);
});

test("a row written by plain SQL without a Message-ID gets one, and keeps it across a retry", async () => {
  b = await bench("sqlite");
  const text = "From: a@example.com\r\nTo: b@example.com\r\nSubject: plain sql\r\n\r\nhello\r\n";
  await b.db.kysely.insertInto("mailer_message").values({ message_data: new TextEncoder().encode(text), envelope_to: "b@example.com" }).execute();
  let fail = true;
  const { transport, stats } = timedTransport((m) => (fail ? smtpError(451) : ok(m)));
  expect((await runPass(env(b, transport))).deferred).toBe(1);
  const [row] = await b.messages();
  expect(row!.message_id).toMatch(/^<.+@.+>$/);
  expect(Buffer.from(row!.message_data).toString()).toContain(`Message-ID: ${row!.message_id}`);
  fail = false;
  await requeueDeferred(b.db, null);
  expect((await runPass(env(b, transport))).sent).toBe(1);
  expect(stats.sent[0]).toContain(`Message-ID: ${row!.message_id}`);
  expect((await b.logs()).map((l) => l.message_id)).toEqual([row!.message_id, row!.message_id]);
});

test("a stored text that is not a message is deferred as unexpected and does not stall the queue", async () => {
  b = await bench("sqlite");
  await b.db.kysely.insertInto("mailer_message").values({ message_data: new TextEncoder().encode("no header here\r\n"), envelope_to: "x@example.com", priority: 1 }).execute();
  await b.enqueue({ subject: "fine" });
  const { transport } = timedTransport();
  const e = env(b, transport);
  const result = await runPass(e);
  expect(result).toMatchObject({ sent: 1, deferred: 1 });
  const failure = (await b.logs()).find((l) => l.result === "failure")!;
  expect(failure.log_message).toMatch(/^unexpected error: not an RFC 5322 message/);
});

test("a transport that cannot be built stops the pass and gives back the claimed batch", async () => {
  const bench = await setup({}, 2);
  const e = { ...env(bench, null as never), transportFactory: async () => Promise.reject(new Error("no such module")) };
  await expect(runPass(e)).rejects.toThrow("no such module");
  expect((await bench.messages()).every((r) => r.claimed_by === null && r.status === "queued")).toBe(true);
});

test("a transport that cannot be built again after the handler asked for a new connection stops the pass", async () => {
  const bench = await setup({ backend: { pool: 1 } }, 3);
  const { transport } = timedTransport(() => smtpError(421));
  let builds = 0;
  const transportFactory = async () => {
    if (++builds > 1) throw new Error("no such module");
    return transport;
  };
  const errorHandler = () => ({ action: "deferred" as const, newConnection: true });
  await expect(runPass({ ...env(bench, transport, { errorHandler }), transportFactory })).rejects.toThrow("no such module");
  // The first message was deferred by the handler; the others were never attempted and stay queued.
  const rows = await bench.messages();
  expect(rows.map((r) => [r.subject, r.status, r.claimed_by])).toEqual([
    ["m0", "deferred", null],
    ["m1", "queued", null],
    ["m2", "queued", null],
  ]);
  expect((await bench.logs()).map((l) => l.log_message)).toEqual([expect.stringContaining("421")]);
});

test("recording a batch retries when the database is briefly busy, so sent mail is not sent again", async () => {
  const bench = await setup({}, 1);
  const impatient = await openDatabase(bench.url, { busyTimeout: 10 });
  const blocker = new Database(bench.url.slice("sqlite:".length));
  const transport: Transport = {
    name: "blocking",
    async send(m) {
      blocker.run("begin exclusive");
      setTimeout(() => blocker.run("commit"), 400);
      return ok(m);
    },
    async close() {},
  };
  const e = env(bench, transport, { db: impatient });
  try {
    expect((await runPass(e)).sent).toBe(1);
    expect((e.logger as ReturnType<typeof memoryLogger>).lines.join("\n")).toContain("recording a batch failed, retrying");
    expect(await bench.messages()).toHaveLength(0);
    expect(await bench.logs()).toHaveLength(1);
  } finally {
    blocker.close();
    await impatient.close();
  }
});

test("a caller that hears of every commit (runmailer-pg) takes a pass that ended on an empty claim as the last look; runmailer looks again", async () => {
  b = await bench("sqlite", { lock: { use_file_lock: false } });
  const start = Date.now();
  const id = await b.enqueue({ subject: "send at" });
  await b.db.kysely.updateTable("mailer_message").set({ next_attempt_at: b.db.dialect.toDb(new Date(start + 3600_000)) }).where("id", "=", id).execute();
  // The clock passes the message's time once the pass is over: only a look made after the pass sees it due.
  const decide = async (commitsAnnounced: boolean) => {
    let passOver = false;
    const observer = { outcome() {}, claimed() {}, recorded() {}, passFinished: () => void (passOver = true) };
    const clock = () => new Date(passOver ? start + 7200_000 : start);
    return passAndDecide(env(b!, timedTransport().transport, { clock, observer }), new AbortController().signal, { commitsAnnounced });
  };
  expect(await decide(false)).toBe(false);
  expect(await decide(true)).toBe(true);
  expect((await b.messages()).map((m) => m.subject)).toEqual(["send at"]);
});

test("runmailer waits out a database that is down instead of ending", async () => {
  const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = closed.port;
  closed.stop(true);
  b = await bench("sqlite", { lock: { use_file_lock: false } });
  const down = await openDatabase(`postgres://postgres@127.0.0.1:${port}/none`);
  const e = env(b, timedTransport().transport, { db: down });
  try {
    expect(await passAndDecide(e, new AbortController().signal)).toBe(true);
    expect((e.logger as ReturnType<typeof memoryLogger>).lines.join("\n")).toContain("pass failed; retrying after the sleep");
  } finally {
    await down.close();
  }
});

/** Sessions on this test's database server for `url`'s database, from a connection of their own. */
async function sessionsOn(url: string): Promise<number> {
  const name = new URL(url).pathname.slice(1);
  if (url.startsWith("postgres")) {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql`select count(*)::int as n from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;
      return row!.n as number;
    } finally {
      await sql.end();
    }
  }
  return mariadbAdmin(async (c) => {
    const [rows] = await c.query("select count(*) as n from information_schema.processlist where db = ? and id <> connection_id()", [name]);
    return Number((rows as Array<{ n: number }>)[0]!.n);
  });
}

forEachDialect((dialect, it) => {
  it("a pass over an empty queue (cron's every minute) opens one database connection, not two", async () => {
    b = await bench(dialect);
    const before = await sessionsOn(b.url);
    const db = await openDatabase(b.url);
    try {
      const result = await runPass(env(b, timedTransport().transport, { db }), {});
      expect(result.sent).toBe(0);
      expect((await sessionsOn(b.url)) - before).toBe(1);
    } finally {
      await db.close();
    }
  });
}, ["postgres", "mariadb"]);
