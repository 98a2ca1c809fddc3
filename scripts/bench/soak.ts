// The long run behind issue 18's "no growth over an hour at 1 msg/s": runmailer-pg on PostgreSQL,
// fed by a separate committer (plain SQL, as an application would) at a steady rate, its resident
// memory and CPU sampled from /proc all along. Too long for scripts/bench (an hour by default), so a
// script of its own:
//
//   bun scripts/bench/soak.ts [--minutes 60] [--rate 1] [--sample 30] [--binary dist/mailer] [--json-out F]
//
// Growth is judged after a warm-up (the first tenth of the run, at least a minute): the least-squares
// slope of RSS over time, in MiB per hour, and the last samples' median against the first ones'.
// Every message committed must have reached the sink.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { benchRoot, freshDb, writeConfig } from "./db.ts";
import { benchMessage } from "./messages.ts";
import { cleanEnv, cpuSecondsOf, median, round, runOk, sleep } from "./proc.ts";
import { startSink } from "./sink.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    minutes: { type: "string", default: "60" },
    rate: { type: "string", default: "1" },
    sample: { type: "string", default: "30" },
    binary: { type: "string", default: resolve(import.meta.dir, "../../dist/mailer") },
    "json-out": { type: "string" },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const sampleSeconds = Number(values.sample);
if (!(minutes > 0 && rate > 0 && sampleSeconds > 0)) throw new Error("--minutes, --rate and --sample must be positive numbers");
const say = (line: string) => process.stderr.write(`soak: ${line}\n`);

interface Sample {
  /** Seconds since the worker started. */
  t: number;
  rssMiB: number;
  /** RSS split: anonymous (heaps, JIT code, stacks) against file-backed (the binary's own pages). */
  anonMiB: number;
  fileMiB: number;
  cpuSeconds: number;
  committed: number;
  delivered: number;
}

const proc = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (field: string) => round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) / 1024, 2);
  return { rssMiB: mib("VmRSS"), anonMiB: mib("RssAnon"), fileMiB: mib("RssFile"), cpuSeconds: cpuSecondsOf(pid) };
};

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

const sink = await startSink({ live: true, dir: benchRoot() });
const db = await freshDb("postgres");
const config = writeConfig(db, { smtp: sink, pool: 1, emptyQueueSleep: 30 });
await runOk("migrate", [values.binary!, "migrate", "--config", config], { cwd: db.dir });
const worker = Bun.spawn([values.binary!, "runmailer-pg", "--config", config], { cwd: db.dir, env: cleanEnv(), stdout: "ignore", stderr: "pipe", stdin: "ignore" });
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
// Interrupted: the run stops at its next commit and cleans up as a finished one does (worker,
// sink, database), then exits 130 without a result.
let interrupted: string | null = null;
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void (interrupted = signal));
const samples: Sample[] = [];
let committed = 0;
try {
  await sleep(2000);
  if (worker.exitCode !== null) throw new Error(`runmailer-pg exited ${worker.exitCode}: ${await new Response(worker.stderr).text()}`);
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const sample = () => {
    const lost = sink.gone();
    if (lost) throw new Error(`${lost}: no figure from this run means anything`);
    const s: Sample = { t: round(elapsed(), 1), ...proc(worker.pid), committed, delivered: sink.count() };
    samples.push(s);
    return s;
  };
  say(`runmailer-pg ${worker.pid}: ${minutes} min at ${rate} msg/s; sampling every ${sampleSeconds} s; fresh RSS ${sample().rssMiB} MiB`);
  const end = minutes * 60;
  let nextSample = sampleSeconds;
  while (elapsed() < end && !interrupted) {
    const m = benchMessage(committed, "soak");
    const messageId = /^Message-ID: (<[^>]+>)/m.exec(m.raw)![1]!;
    await sql`insert into mailer_message (message_data, message_id, subject, envelope_from, envelope_to)
              values (${Buffer.from(m.raw)}, ${messageId}, ${`soak message ${committed}`}, ${m.envelope.from}, ${m.envelope.to.join(", ")})`;
    committed++;
    if (elapsed() >= nextSample) {
      const s = sample();
      nextSample += sampleSeconds;
      if (samples.length % 10 === 1) say(`${Math.round(s.t)} s: RSS ${s.rssMiB} MiB (anon ${s.anonMiB}, file ${s.fileMiB}), CPU ${s.cpuSeconds} s, ${s.delivered} of ${s.committed} delivered`);
    }
    // The next commit on the rate's schedule, not after a fixed pause (which would drift).
    await sleep(Math.max(0, (committed / rate - elapsed()) * 1000));
  }
  if (!interrupted) {
    // A worker that stopped delivering is reported below, with when it stopped, rather than thrown.
    await sink.waitFor(committed, 30_000).catch(() => {});
    sample();
  }
} finally {
  await sql.end();
  // A worker whose pass is stuck does not stop on SIGTERM (it waits for that pass): SIGKILL after 10 s.
  worker.kill("SIGTERM");
  const kill = setTimeout(() => worker.kill("SIGKILL"), 10_000);
  await worker.exited;
  clearTimeout(kill);
  await sink.stop();
  await db.drop();
}

if (interrupted) {
  say(`interrupted (${interrupted}) after ${committed} messages: no result`);
  process.exit(130);
}

const warm = Math.max(60, (minutes * 60) / 10);
/** The first sample from which nothing more was delivered, when the run ended short. */
const stalledAt = sink.count() < committed ? samples.find((s, i) => samples.slice(i).every((later) => later.delivered === s.delivered))?.t : undefined;
const after = samples.filter((s) => s.t >= warm);
const head = median(after.slice(0, 5).map((s) => s.rssMiB));
const tail = median(after.slice(-5).map((s) => s.rssMiB));
/** MiB per hour of one memory figure over the samples after the warm-up. */
const slopeAfterWarmUp = (field: "rssMiB" | "anonMiB" | "fileMiB") => round(slope(after.map((s) => [s.t / 3600, s[field]])), 2);
const result = {
  minutes, rate, committed, delivered: sink.count(),
  freshMiB: samples[0]!.rssMiB,
  maxMiB: Math.max(...samples.map((s) => s.rssMiB)),
  afterWarmUp: {
    from: warm, firstMiB: head, lastMiB: tail,
    slopeMiBPerHour: slopeAfterWarmUp("rssMiB"),
    anonSlopeMiBPerHour: slopeAfterWarmUp("anonMiB"),
    fileSlopeMiBPerHour: slopeAfterWarmUp("fileMiB"),
  },
  cpuShare: round(samples.at(-1)!.cpuSeconds / samples.at(-1)!.t, 4),
  stalledAt,
  samples,
};
const growth = after.length < 2 ? `the run was shorter than its ${warm} s warm-up` : `after ${warm} s: ${head} -> ${tail} MiB (median of 5 samples each), slope ${result.afterWarmUp.slopeMiBPerHour} MiB/h (anon ${result.afterWarmUp.anonSlopeMiBPerHour}, file ${result.afterWarmUp.fileSlopeMiBPerHour})`;
say(`${result.delivered} of ${committed} delivered; RSS fresh ${result.freshMiB}, max ${result.maxMiB} MiB; ${growth}; CPU ${(result.cpuShare * 100).toFixed(2)} % of a core`);
if (values["json-out"]) writeFileSync(values["json-out"], JSON.stringify(result, null, 2) + "\n");
if (result.delivered !== committed) {
  say(`FAIL: ${committed - result.delivered} message(s) never arrived; deliveries stopped by ${stalledAt ?? "?"} s`);
  process.exit(1);
}
