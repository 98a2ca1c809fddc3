// Step 6: `mailer runmailer-pg`, commit-to-SMTP latency. One message at a time is enqueued through the
// library (its transaction's COMMIT acknowledged = t0); the sink's running counter, read from its
// stdout pipe, gives the arrival (t1). Between samples the bench waits GAP_MS so that the worker has
// recorded the previous message: the figure is an idle worker's reaction time, not a backlog's.
//
// The floor beside it: the same sink and counter pipe, fed by a bare nodemailer pool on an open
// connection in this process (sendMail called = t0). That is the measurement's own overhead plus one
// SMTP transaction; runmailer-pg can only add to it.
//
// Then the same measured from outside (issue 18), as it would be for any other mail queue: a separate
// process commits plain-SQL INSERTs and notes each COMMIT's wall-clock time (latency-inserter.ts), and
// a second sink, a Python process, notes each arrival's (stamp-sink.py), so no clock is read in an
// event loop that also runs the sink or the worker. After
// it, the worker's idle cost: CPU over an idle stretch and resident memory.
import nodemailer from "nodemailer";
import { openQueue } from "../../../src/index.ts";
import { addRow, say, type Bench } from "../context.ts";
import { sql } from "kysely";
import { FUNCTION_SQL, TRIGGER_SQL } from "../../../src/pg/trigger.ts";
import { benchRoot, freshDb, usingDatabase, writeConfig, type BenchDb } from "../db.ts";
import { benchMessage } from "../messages.ts";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { cleanEnv, compileLikeMailer, cpuSecondsOf, percentile, round, runOk, sleep, summary } from "../proc.ts";
import { quietGate, type Quiet } from "../quiet.ts";
import { startStampSink, type StampSink } from "../stamp-sink.ts";
import { startSink, type Sink } from "../sink.ts";

const GAP_MS = 20;
const WARMUP = 5;

async function floor(sink: Sink, samples: number): Promise<number[]> {
  const transporter = nodemailer.createTransport({ pool: true, host: sink.host, port: sink.port, maxConnections: 1, maxMessages: Infinity });
  const times: number[] = [];
  try {
    for (let i = 0; i < samples + WARMUP; i++) {
      const m = benchMessage(i, "floor");
      const before = sink.count();
      const t0 = performance.now();
      const sent = transporter.sendMail({ envelope: m.envelope, raw: m.raw });
      const t1 = await sink.waitFor(before + 1, 10_000);
      await sent;
      if (i >= WARMUP) times.push(t1 - t0);
      await sleep(GAP_MS);
    }
  } finally {
    transporter.close();
  }
  return times;
}

export async function latencyStep(bench: Bench): Promise<void> {
  if (!bench.dialects.includes("postgres")) {
    // runmailer-pg waits on LISTEN/NOTIFY, which only PostgreSQL has: no figure for the others.
    bench.notes.push("latency: skipped (runmailer-pg needs PostgreSQL)");
    return;
  }
  const sink = await startSink({ live: true, forceJs: bench.jsSink, dir: benchRoot() });
  try {
    await measure(bench, sink);
  } finally {
    await sink.stop();
  }
  if (!Bun.which("python3")) {
    bench.notes.push("latency from outside: skipped (its sink, stamp-sink.py, needs python3)");
    return;
  }
  await measureFromOutside(bench);
  await measureFloorFromOutside(bench);
}

/** SIGTERM, and SIGKILL if it has not exited 10 s later. */
async function stopWorker(child: ReturnType<typeof Bun.spawn>): Promise<void> {
  child.kill("SIGTERM");
  const stopped = await Promise.race([child.exited, sleep(10_000).then(() => null)]);
  if (stopped === null) child.kill("SIGKILL");
}

const residentMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

/** What one worker showed from outside: commit-to-arrival times, then its idle cost. */
export interface OutsideFigure {
  latency: number[];
  gate: Quiet;
  idleMs: number;
  /** Share of one core used while idle. */
  idleCpu: number;
  idleRssMiB: number;
}

/** A figure from outside as the bench reports it: its percentiles, its idle cost as a share of a
 * core in per cent, a line for the log, and its record for the JSON. */
export function outsideSummary(figure: OutsideFigure) {
  const { latency, idleCpu, idleRssMiB: rss } = figure;
  const p50 = percentile(latency, 50);
  const p99 = percentile(latency, 99);
  return {
    p50,
    p99,
    cpuPercent: idleCpu * 100,
    rss,
    text: `p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms; idle ${(idleCpu * 100).toFixed(2)} % of a core, ${rss.toFixed(1)} MiB`,
    raw: { gate: figure.gate, latency: summary(latency), idleCpuShare: round(idleCpu, 5), idleRssMiB: round(rss, 1) },
  };
}

/** A worker to measure from outside: started against the stamping sink, fed by its own inserter. */
export interface OutsideSubject {
  /** The worker's command, run in `cwd` until the measurement ends. */
  worker: string[];
  cwd: string;
  /** The inserter's command: commits `count` bench messages `gapMs` apart, printing one JSON line
   * per COMMIT ({messageId, committedAt}, wall-clock ms), as latency-inserter.ts does. */
  inserter(count: number, gapMs: number, tag: string): string[];
  cleanup(): Promise<void>;
}

/** The outside measurement for any worker (runmailer-pg here, django-mailer's runmailer_pg in the
 * django step), so both are measured by the one procedure. */
export async function latencyFromOutside(bench: Bench, prepare: (sink: StampSink) => Promise<OutsideSubject>): Promise<OutsideFigure> {
  const samples = bench.sizes.latencySamples;
  const sink = await startStampSink();
  let subject: OutsideSubject | null = null;
  let child: ReturnType<typeof Bun.spawn> | null = null;
  try {
    subject = await prepare(sink);
    child = Bun.spawn(subject.worker, { cwd: subject.cwd, env: cleanEnv(), stdout: "ignore", stderr: "ignore", stdin: "ignore" });
    await sleep(1500);
    if (child.exitCode !== null) throw new Error(`${subject.worker.join(" ").slice(0, 80)} exited ${child.exitCode}`);
    const gate = await quietGate();
    const inserter = await runOk("latency inserter", subject.inserter(samples + WARMUP, GAP_MS + 5, "outside"), { timeoutMs: 600_000 });
    const commits = inserter.stdout.trim().split("\n").map((l) => JSON.parse(l) as { messageId: string; committedAt: number });
    // The last arrivals' lines read.
    await sleep(1000);
    const arrivals = sink.arrivals();
    const latency = commits.slice(WARMUP).map((c) => {
      const at = arrivals.get(c.messageId);
      if (at === undefined) throw new Error(`latency from outside: ${c.messageId} never arrived (${arrivals.size} of ${commits.length} did: ${[...arrivals.keys()].slice(0, 3).join(" ")})`);
      return at - c.committedAt;
    });
    // Idle: nothing queued, the worker waiting on LISTEN and its beat.
    const idleMs = bench.quick ? 3000 : 20_000;
    const cpu0 = cpuSecondsOf(child.pid);
    await sleep(idleMs);
    const idleCpu = (cpuSecondsOf(child.pid) - cpu0) / (idleMs / 1000);
    return { latency, gate, idleMs, idleCpu, idleRssMiB: residentMiB(child.pid) };
  } finally {
    if (child) await stopWorker(child);
    await sink.stop();
    await subject?.cleanup();
  }
}

/** A worker on a fresh PostgreSQL database that mailer has migrated, with a config naming the sink;
 * the inserter commits plain-SQL INSERTs into it. */
async function onFreshPostgres(bench: Bench, sink: StampSink, worker: (db: BenchDb, config: string) => Promise<string[]>): Promise<OutsideSubject> {
  const db = await freshDb("postgres");
  const config = writeConfig(db, { smtp: sink, pool: 1, emptyQueueSleep: 30 });
  await runOk("migrate", [bench.binary, "migrate", "--config", config], { cwd: db.dir });
  return {
    worker: await worker(db, config),
    cwd: db.dir,
    inserter: (count, gapMs, tag) => [process.execPath, join(import.meta.dir, "..", "latency-inserter.ts"), JSON.stringify({ url: db.url, count, gapMs, tag })],
    cleanup: () => db.drop(),
  };
}

/** The same measured on the bare worker (bare-pg-worker.ts, compiled as mailer is): what Bun,
 * postgres.js and nodemailer cost by themselves, the floor under runmailer-pg's three figures. */
async function measureFloorFromOutside(bench: Bench): Promise<void> {
  const worker = await compileLikeMailer(join(import.meta.dir, "..", "bare-pg-worker.ts"), join(benchRoot(), "bare-pg-worker"));
  const figure = await latencyFromOutside(bench, (sink) =>
    onFreshPostgres(bench, sink, async (db) => {
      // runmailer-pg installs its NOTIFY trigger at start; the bare worker is given the same one.
      await usingDatabase(db, async (kysely) => {
        for (const ddl of [FUNCTION_SQL, TRIGGER_SQL]) await sql.raw(ddl).execute(kysely);
      });
      return [worker, JSON.stringify({ url: db.url, host: sink.host, port: sink.port })];
    }),
  );
  const s = outsideSummary(figure);
  say(`floor, a bare Bun LISTEN worker from outside: ${s.text}`);
  const floor = "floor: bare Bun worker (postgres.js LISTEN, claim, nodemailer, record)";
  addRow(bench, { id: "latency.outside.floor.p50", label: `${floor}, commit → SMTP from outside, p50`, unit: "ms", values: { postgres: s.p50 } });
  addRow(bench, { id: "latency.outside.floor.p99", label: `${floor}, commit → SMTP from outside, p99`, unit: "ms", values: { postgres: s.p99 } });
  addRow(bench, { id: "idle.cpu.floor", label: `${floor}, idle CPU over ${figure.idleMs / 1000} s`, unit: "% core", values: { postgres: s.cpuPercent } });
  addRow(bench, { id: "idle.rss.floor", label: `${floor}, idle resident memory`, unit: "MiB", values: { postgres: s.rss } });
  (bench.raw.latency as Record<string, unknown>).bareWorker = { ...s.raw, samples: figure.latency.map((x) => round(x, 3)) };
}

async function measureFromOutside(bench: Bench): Promise<void> {
  const figure = await latencyFromOutside(bench, (sink) =>
    onFreshPostgres(bench, sink, async (_db, config) => [bench.binary, "runmailer-pg", "--config", config]),
  );
  const s = outsideSummary(figure);
  say(`runmailer-pg from outside, over ${figure.latency.length}: ${s.text}`);
  addRow(bench, { id: "latency.outside.p50", label: "runmailer-pg commit → SMTP from outside (plain-SQL committer, stamping sink), p50", unit: "ms", values: { postgres: s.p50 } });
  // django-mailer's p99 measured this way (issue 18's run; the django step measures it in this one).
  addRow(bench, { id: "latency.outside.p99", label: "runmailer-pg commit → SMTP from outside, p99", unit: "ms", values: { postgres: s.p99 }, target: { op: "<=", value: 7.95 } });
  addRow(bench, { id: "idle.cpu", label: `runmailer-pg idle CPU over ${figure.idleMs / 1000} s`, unit: "% core", values: { postgres: s.cpuPercent } });
  addRow(bench, { id: "idle.rss", label: "runmailer-pg idle resident memory", unit: "MiB", values: { postgres: s.rss }, target: { op: "<=", value: 48 } });
  (bench.raw.latency as Record<string, unknown>).outside = { ...s.raw, samples: figure.latency.map((x) => round(x, 3)) };
}

async function measure(bench: Bench, sink: Sink): Promise<void> {
  const samples = bench.sizes.latencySamples;
  const floorTimes = await floor(sink, samples);
  const raw: Record<string, unknown> = { gapMs: GAP_MS, floor: summary(floorTimes) };
  bench.raw.latency = raw;
  addRow(bench, { id: "latency.floor.p50", label: "floor: bare nodemailer send → sink counter, p50", unit: "ms", values: { postgres: percentile(floorTimes, 50) } });
  addRow(bench, { id: "latency.floor.p99", label: "floor: bare nodemailer send → sink counter, p99", unit: "ms", values: { postgres: percentile(floorTimes, 99) } });
  say(`latency floor: p50 ${percentile(floorTimes, 50).toFixed(2)} ms, p99 ${percentile(floorTimes, 99).toFixed(2)} ms`);

  const db = await freshDb("postgres");
  const config = writeConfig(db, { smtp: sink, pool: 1, emptyQueueSleep: 30 });
  await runOk("migrate", [bench.binary, "migrate", "--config", config], { cwd: db.dir });
  const child = Bun.spawn([bench.binary, "runmailer-pg", "--config", config], { cwd: db.dir, env: cleanEnv(), stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const stderr = new Response(child.stderr).text();
  const queue = await openQueue({ config });
  try {
    const early = await Promise.race([child.exited, sleep(1500).then(() => null)]);
    if (early !== null) {
      const text = (await stderr).trim();
      const why = /not yet built/.test(text) ? "the command says: not yet built" : /unknown command/.test(text) ? "no such command" : `exited ${early}: ${text.split("\n")[0]}`;
      bench.notes.push(`runmailer-pg not available (${why}): latency step skipped`);
      addRow(bench, { id: "latency.p50", label: "runmailer-pg commit → SMTP, p50", unit: "ms", values: {}, note: "not available", target: { op: "<=", value: 5 } });
      addRow(bench, { id: "latency.p99", label: "runmailer-pg commit → SMTP, p99", unit: "ms", values: {}, note: "not available", target: { op: "<=", value: 10 } });
      say(`runmailer-pg not available (${why})`);
      return;
    }
    const send = async (i: number) => {
      const m = benchMessage(i, "latency");
      const before = sink.count();
      const t0 = performance.now();
      await queue.enqueue({ raw: m.raw, envelope: m.envelope });
      const committed = performance.now();
      const arrived = await sink.waitFor(before + 1, 15_000);
      return { commitMs: committed - t0, latencyMs: arrived - committed };
    };
    const sessions0 = sink.sessions();
    // The first message also proves the worker is up and listening (it may still be starting).
    await send(0);
    for (let i = 1; i < WARMUP; i++) await send(i);
    const latency: number[] = [];
    const commit: number[] = [];
    for (let i = 0; i < samples; i++) {
      await sleep(GAP_MS);
      const s = await send(WARMUP + i);
      latency.push(s.latencyMs);
      commit.push(s.commitMs);
    }
    const p50 = percentile(latency, 50);
    const p99 = percentile(latency, 99);
    say(`runmailer-pg latency: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms over ${samples}`);
    addRow(bench, { id: "latency.p50", label: "runmailer-pg commit → SMTP, p50", unit: "ms", values: { postgres: p50 }, target: { op: "<=", value: 5 } });
    addRow(bench, { id: "latency.p99", label: "runmailer-pg commit → SMTP, p99", unit: "ms", values: { postgres: p99 }, target: { op: "<=", value: 10 } });
    // A worker that keeps its SMTP connection between passes ends ~0 sessions; one per pass ends one per message.
    const sessionsPerMessage = (sink.sessions() - sessions0) / (samples + WARMUP);
    raw.runmailerPg = { latency: summary(latency), enqueueCall: summary(commit), smtpSessionsPerMessage: round(sessionsPerMessage, 2), samples: latency.map((x) => round(x, 3)) };
  } finally {
    await queue.close();
    await stopWorker(child);
    await db.drop();
  }
}
