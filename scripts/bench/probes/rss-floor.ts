// Probe: the floor under a drain's peak resident memory (issue 18's peak RSS row). Round after round
// it drains a fresh queue of COUNT bench messages twice, behind the quiet-machine gate: once with
// bare-drain.ts (compiled as mailer is: Bun, the database library and nodemailer, none of mailer's
// code) and once with the binary's `send-mail`, both at POOL connections, and prints each run's rate
// and peak RSS (GNU time), then the medians. SQLite and PostgreSQL (the libraries bare-drain has).
//
//   bun scripts/bench/probes/rss-floor.ts postgres 10000 4 3 dist/mailer
//   (dialect, count, pool, rounds, binary)
import { join, resolve } from "node:path";
import { newBench, takeFixture } from "../context.ts";
import { benchRoot, dropAll, type Dialect } from "../db.ts";
import { compileLikeMailer, median, run } from "../proc.ts";
import { quietGate } from "../quiet.ts";
import { startSink } from "../sink.ts";
import { drainOnce } from "../steps/drain.ts";

const [dialect, countArg, poolArg, roundsArg, binaryArg] = process.argv.slice(2);
if ((dialect !== "sqlite" && dialect !== "postgres") || !binaryArg) {
  process.stderr.write("usage: rss-floor.ts sqlite|postgres COUNT POOL ROUNDS BINARY\n");
  process.exit(64);
}
const [count, pool, rounds] = [countArg, poolArg, roundsArg].map(Number) as [number, number, number];
const sink = await startSink({ dir: benchRoot() });
const bench = newBench({ binary: resolve(binaryArg), quick: false, dialects: [dialect as Dialect], sink, jsSink: sink.kind !== "smtp-sink" });
const bare = await compileLikeMailer(join(import.meta.dir, "..", "bare-drain.ts"), join(benchRoot(), "bare-drain"));
const figures = { bare: [] as Array<{ rate: number; mib: number }>, mailer: [] as Array<{ rate: number; mib: number }> };
const mib = (kib: number | null | undefined) => Math.round(((kib ?? NaN) / 1024) * 10) / 10;
try {
  for (let r = 1; r <= rounds; r++) {
    const db = await takeFixture(bench, dialect as Dialect, count);
    try {
      const before = sink.count();
      await quietGate();
      const spec = JSON.stringify({ url: db.url, host: sink.host, port: sink.port, pool });
      const result = await run([bare, spec], { rss: true, cwd: db.dir, timeoutMs: 600_000 });
      if (result.code !== 0 || !result.stdout.includes(`${count} sent`)) throw new Error(`bare-drain: ${result.code} ${result.stdout} ${result.stderr.slice(0, 400)}`);
      await sink.waitFor(before + count, 10_000);
      figures.bare.push({ rate: Math.round(count / (result.ms / 1000)), mib: mib(result.maxRssKiB) });
      console.log(`round ${r} bare-drain: ${figures.bare.at(-1)!.rate} msg/s, peak RSS ${figures.bare.at(-1)!.mib} MiB`);
    } finally {
      await db.drop();
    }
    const f = await drainOnce(bench, dialect as Dialect, count, pool);
    figures.mailer.push({ rate: f.rate, mib: mib(f.maxRssKiB) });
    console.log(`round ${r} send-mail: ${f.rate} msg/s, peak RSS ${figures.mailer.at(-1)!.mib} MiB`);
  }
  for (const [name, runs] of Object.entries(figures)) {
    console.log(`median ${name}: ${median(runs.map((x) => x.rate))} msg/s, peak RSS ${median(runs.map((x) => x.mib))} MiB`);
  }
} finally {
  await sink.stop();
  await dropAll();
}
