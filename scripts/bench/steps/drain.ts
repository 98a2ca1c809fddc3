// Steps 3 and 4: drain N queued messages with `mailer send-mail` (pool 1 and pool 4), the wire (the
// same number of messages of the same size from postfix's smtp-source, a C client, in as many
// sessions: wire.ts) and the ceiling (the same messages from a bare nodemailer pool of the same size,
// no database). Repetitions are interleaved (wire, ceilings, then a drain on each database, for each
// pool size) so that machine noise falls on all of them alike; each run waits for a quiet machine
// first (quiet.ts), and each figure is the median of its repetitions.
import { join } from "node:path";
import { addRow, say, takeFixture, type Bench } from "../context.ts";
import { writeConfig, type Dialect } from "../db.ts";
import { median, round, run, runOk } from "../proc.ts";
import { quietGate, type Quiet } from "../quiet.ts";
import { wireAvailable, wireOnce, type SourceRun } from "../wire.ts";

export interface DrainFigure {
  count: number;
  pool: number;
  /** send-mail spawn to exit. */
  ms: number;
  rate: number;
  /** The pass's own time from its summary line (excludes process start and database open). */
  passSeconds: number | null;
  maxRssKiB: number | null;
  /** send-mail's own CPU (user + system), when GNU time is there to measure it. */
  cpuSeconds: number | null;
  /** CPU the sink used meanwhile: far below the wall time shows the sink was not the bottleneck. */
  sinkCpuSeconds: number;
  gate: Quiet;
}

/** The median of the runs' send-mail CPU per message, in µs; null where GNU time measured none. */
export function cpuPerMessageMicros(runs: readonly DrainFigure[]): number | null {
  const seconds = runs.flatMap((d) => (d.cpuSeconds === null ? [] : [d.cpuSeconds / d.count]));
  return seconds.length > 0 ? median(seconds) * 1e6 : null;
}

export async function drainOnce(bench: Bench, dialect: Dialect, count: number, pool: number): Promise<DrainFigure> {
  const db = await takeFixture(bench, dialect, count);
  try {
    const config = writeConfig(db, { smtp: bench.sink, pool }, `drain-pool${pool}.toml`);
    const before = bench.sink.count();
    const cpu0 = bench.sink.cpuSeconds();
    const gate = await quietGate();
    const result = await run([bench.binary, "send-mail", "--config", config], { rss: true, cwd: db.dir, timeoutMs: 600_000 });
    if (result.code !== 0) throw new Error(`send-mail exited ${result.code}: ${result.stderr.trim().slice(0, 800)}`);
    const m = /^(\d+) sent, (\d+) deferred, (\d+) failed in ([\d.]+) s$/m.exec(result.stdout);
    const sent = m ? Number(m[1]) : NaN;
    if (sent !== count) throw new Error(`send-mail sent ${sent} of ${count}: ${result.stdout.trim()} ${result.stderr.trim().slice(0, 400)}`);
    // send-mail exits after its last message was acknowledged: the sink has every one by now.
    await bench.sink.waitFor(before + count, 10_000);
    return {
      count, pool, ms: round(result.ms), rate: round(count / (result.ms / 1000), 0),
      passSeconds: m ? Number(m[4]) : null, maxRssKiB: result.maxRssKiB ?? null, cpuSeconds: result.cpuSeconds ?? null,
      sinkCpuSeconds: round(bench.sink.cpuSeconds() - cpu0), gate,
    };
  } finally {
    await db.drop();
  }
}

export interface CeilingFigure {
  count: number;
  pool: number;
  ms: number;
  rate: number;
  failed: number;
  sinkCpuSeconds: number;
  gate: Quiet;
}

/** `direct`: the pool fed as mailer's SMTP backend feeds it (ceiling.ts), instead of through sendMail. */
export async function ceilingOnce(bench: Bench, count: number, pool: number, direct = false): Promise<CeilingFigure> {
  const before = bench.sink.count();
  const cpu0 = bench.sink.cpuSeconds();
  const gate = await quietGate();
  const args = JSON.stringify({ host: bench.sink.host, port: bench.sink.port, pool, count, direct });
  const result = await runOk("ceiling", [process.execPath, join(import.meta.dir, "..", "ceiling.ts"), args]);
  const figure = JSON.parse(result.stdout.trim()) as CeilingFigure;
  await bench.sink.waitFor(before + count - figure.failed, 10_000);
  return { ...figure, ms: round(figure.ms), rate: round(figure.rate, 0), sinkCpuSeconds: round(bench.sink.cpuSeconds() - cpu0), gate };
}

export async function drainStep(bench: Bench, withCeiling: boolean, withDrain = true): Promise<void> {
  const { small, drainReps } = bench.sizes;
  const drains: Record<string, DrainFigure[]> = {};
  const ceilings: Record<string, CeilingFigure[]> = {};
  const wires: Record<string, SourceRun[]> = {};
  const withWire = withCeiling && wireAvailable();
  if (withCeiling && !withWire) bench.notes.push("wire: /usr/sbin/smtp-source missing (postfix's test programs): no drain ÷ wire");
  for (let rep = 0; rep < drainReps; rep++) {
    for (const pool of [1, 4]) {
      if (withWire) {
        const w = await wireOnce(bench, small, pool);
        (wires[`pool${pool}`] ??= []).push(w);
        say(`wire smtp-source -s ${pool} -d: ${w.rate} msg/s (idle ${w.gate.idle} before)`);
      }
      if (withCeiling) {
        const c = await ceilingOnce(bench, small, pool);
        (ceilings[`pool${pool}`] ??= []).push(c);
        say(`ceiling pool ${pool}: ${c.rate} msg/s${c.failed ? ` (${c.failed} failed)` : ""}`);
        const direct = await ceilingOnce(bench, small, pool, true);
        (ceilings[`direct${pool}`] ??= []).push(direct);
        say(`ceiling pool ${pool}, fed directly: ${direct.rate} msg/s${direct.failed ? ` (${direct.failed} failed)` : ""}`);
      }
      if (!withDrain) continue;
      for (const dialect of bench.dialects) {
        const d = await drainOnce(bench, dialect, small, pool);
        (drains[`${dialect}.pool${pool}`] ??= []).push(d);
        say(`drain ${small} ${dialect} pool ${pool}: ${d.rate} msg/s (pass ${d.passSeconds} s, rss ${d.maxRssKiB} KiB, cpu ${d.cpuSeconds} s)`);
      }
    }
  }
  const n = small.toLocaleString("en-US");
  const medianRate = (key: string) => (ceilings[key] ? median(ceilings[key]!.map((c) => c.rate)) : undefined);
  // The issue-18 targets for drain ÷ wire (none set yet for MariaDB).
  const wireTargets = {
    1: { sqlite: { op: ">=", value: 0.85 }, postgres: { op: ">=", value: 0.7 } },
    4: { sqlite: { op: ">=", value: 0.6 }, postgres: { op: ">=", value: 0.45 } },
  } as const;
  for (const pool of [1, 4] as const) {
    const ceiling = medianRate(`pool${pool}`);
    const direct = medianRate(`direct${pool}`);
    const wire = wires[`pool${pool}`] ? median(wires[`pool${pool}`]!.map((w) => w.rate)) : undefined;
    if (wire !== undefined) {
      addRow(bench, { id: `wire.pool${pool}`, label: `wire: smtp-source -s ${pool} -d (C client), ${n} msgs, no db`, unit: "msg/s", values: { sqlite: wire }, shared: true });
    }
    if (ceiling !== undefined) {
      addRow(bench, { id: `ceiling.pool${pool}`, label: `ceiling: bare nodemailer pool ${pool}, ${n} msgs, no db`, unit: "msg/s", values: { sqlite: ceiling }, shared: true });
    }
    if (direct !== undefined) {
      addRow(bench, { id: `ceiling.direct${pool}`, label: `ceiling: same pool ${pool} fed as mailer feeds it, no db`, unit: "msg/s", values: { sqlite: direct }, shared: true });
    }
    if (!withDrain) continue;
    const values: Partial<Record<Dialect, number>> = {};
    for (const dialect of bench.dialects) {
      const runs = drains[`${dialect}.pool${pool}`];
      if (runs) values[dialect] = median(runs.map((d) => d.rate));
    }
    const ratioTo = (base: number) => Object.fromEntries(Object.entries(values).map(([d, v]) => [d, v / base])) as Partial<Record<Dialect, number>>;
    addRow(bench, { id: `drain.pool${pool}`, label: `drain ${n} by send-mail, pool ${pool}`, unit: "msg/s", values });
    // Every thread's CPU (GNU time), per message: what a change to the per-message path moves even
    // when the rate is held back by round trips.
    const cpu: Partial<Record<Dialect, number>> = {};
    for (const dialect of bench.dialects) {
      const micros = cpuPerMessageMicros(drains[`${dialect}.pool${pool}`] ?? []);
      if (micros !== null) cpu[dialect] = micros;
    }
    if (Object.keys(cpu).length > 0) {
      addRow(bench, { id: `drain.pool${pool}.cpu`, label: `send-mail CPU per message (all threads), pool ${pool}`, unit: "µs", values: cpu });
    }
    if (wire !== undefined) {
      addRow(bench, { id: `drain.pool${pool}.wireRatio`, label: `drain / wire, pool ${pool}`, unit: "ratio", values: ratioTo(wire), target: { ...wireTargets[pool] } });
    }
    if (ceiling !== undefined) {
      addRow(bench, { id: `drain.pool${pool}.ratio`, label: `drain / ceiling, pool ${pool}`, unit: "ratio", values: ratioTo(ceiling), target: { op: ">=", value: 0.8 } });
    }
    if (direct !== undefined) {
      // No target: how much of the sender's own speed the queue keeps (1.0 = the queue costs nothing).
      addRow(bench, { id: `drain.pool${pool}.directRatio`, label: `drain / ceiling fed as mailer feeds it, pool ${pool}`, unit: "ratio", values: ratioTo(direct) });
    }
  }
  bench.raw.drain = { ...((bench.raw.drain as object) ?? {}), runs: drains };
  if (withCeiling) bench.raw.ceiling = ceilings;
  if (withWire) bench.raw.wire = wires;
}
