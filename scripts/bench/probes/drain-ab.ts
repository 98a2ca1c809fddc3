// Probe: two (or more) mailer binaries draining the same queue, alternated round by round, so that
// a change's effect on the drain is measured side by side under the same machine noise. Each run is
// the bench's own drain (steps/drain.ts: a fresh database of COUNT bench messages, send-mail to
// postfix's smtp-sink, behind the quiet-machine gate); it prints each run, then the medians.
//
//   bun scripts/bench/probes/drain-ab.ts postgres 10000 1 3 /tmp/old-mailer dist/mailer
//   (dialect, count, pool, rounds, binaries...)
import { resolve } from "node:path";
import { newBench } from "../context.ts";
import { benchRoot, dropAll, type Dialect } from "../db.ts";
import { median, round } from "../proc.ts";
import { startSink } from "../sink.ts";
import { cpuPerMessageMicros, drainOnce, type DrainFigure } from "../steps/drain.ts";

const [dialect, countArg, poolArg, roundsArg, ...given] = process.argv.slice(2);
// Absolute: each drain runs in its database's own directory.
const binaries = given.map((b) => resolve(b));
if (!dialect || binaries.length === 0) {
  process.stderr.write("usage: drain-ab.ts sqlite|postgres|mariadb COUNT POOL ROUNDS BINARY...\n");
  process.exit(64);
}
const [count, pool, rounds] = [countArg, poolArg, roundsArg].map(Number) as [number, number, number];
const sink = await startSink({ dir: benchRoot() });
const bench = newBench({ binary: binaries[0]!, quick: false, dialects: [dialect as Dialect], sink, jsSink: sink.kind !== "smtp-sink" });
const runs = new Map<string, DrainFigure[]>(binaries.map((b) => [b, []]));
try {
  for (let r = 0; r < rounds; r++) {
    for (const binary of binaries) {
      bench.binary = binary;
      const f = await drainOnce(bench, dialect as Dialect, count, pool);
      runs.get(binary)!.push(f);
      console.log(`round ${r + 1} ${binary}: ${f.rate} msg/s, cpu ${f.cpuSeconds} s, rss ${f.maxRssKiB} KiB, load ${f.gate.load1.toFixed(2)}${f.gate.quiet ? "" : " (not quiet)"}`);
    }
  }
  for (const [binary, figures] of runs) {
    const micros = cpuPerMessageMicros(figures);
    console.log(
      `median ${binary}: ${median(figures.map((f) => f.rate))} msg/s, cpu ${micros === null ? "?" : round(micros, 0)} µs/msg,` +
        ` rss ${median(figures.map((f) => f.maxRssKiB ?? NaN))} KiB`,
    );
  }
} finally {
  await sink.stop();
  await dropAll();
}
