// Probe: two (or more) mailer binaries' smtpd under 20 kept sessions, alternated round by round so
// that a change is measured side by side under the same machine noise. Each run is a fresh smtpd on a
// fresh database (the bench's own, steps/smtpd.ts) taking SERIES runs of COUNT messages from
// `smtp-source -s 20 -d` one after another: the first shows a process still compiling its hot code
// (its JIT threads take a core's share), the later ones the rate it settles at. Prints each run's
// rate and smtpd's CPU per message, then per binary the median of each position in the series.
//
//   bun scripts/bench/probes/smtpd-ab.ts postgres 3 4 10000 /tmp/old-mailer dist/mailer
//   (dialect, rounds, series, count, binaries...)
import { resolve } from "node:path";
import { newBench } from "../context.ts";
import { benchRoot, dropAll, type Dialect } from "../db.ts";
import { median } from "../proc.ts";
import { startSink } from "../sink.ts";
import { smtpdRun, withSmtpd } from "../steps/smtpd.ts";

const [dialect, roundsArg, seriesArg, countArg, ...given] = process.argv.slice(2);
const binaries = given.map((b) => resolve(b));
if (!dialect || binaries.length === 0) {
  process.stderr.write("usage: smtpd-ab.ts sqlite|postgres|mariadb ROUNDS SERIES COUNT BINARY...\n");
  process.exit(64);
}
const [rounds, series, count] = [roundsArg, seriesArg, countArg].map(Number) as [number, number, number];
// smtpd queues and delivers nothing; the sink is only what the bench context (and its config) expects.
const sink = await startSink({ dir: benchRoot() });
const bench = newBench({ binary: binaries[0]!, quick: false, dialects: [dialect as Dialect], sink, jsSink: sink.kind !== "smtp-sink" });
const figures = new Map<string, Array<Array<{ rate: number; cpu: number }>>>(binaries.map((b) => [b, []]));
try {
  for (let r = 0; r < rounds; r++) {
    for (const binary of binaries) {
      bench.binary = binary;
      const runs = await withSmtpd(bench, dialect as Dialect, async (smtpd) => {
        const out: Array<{ rate: number; cpu: number }> = [];
        for (let s = 0; s < series; s++) {
          const f = await smtpdRun(smtpd, count, true);
          out.push({ rate: f.rate, cpu: f.cpuMicrosPerMessage });
        }
        return out;
      });
      figures.get(binary)!.push(runs);
      console.log(`round ${r + 1} ${binary}: ${runs.map((f) => `${f.rate} msg/s ${f.cpu} µs`).join(" | ")}`);
    }
  }
  for (const [binary, byRound] of figures) {
    const at = (s: number, key: "rate" | "cpu") => median(byRound.map((runs) => runs[s]![key]));
    console.log(`median ${binary}: ${Array.from({ length: series }, (_, s) => `${at(s, "rate")} msg/s ${at(s, "cpu")} µs`).join(" | ")}`);
  }
} finally {
  await sink.stop();
  await dropAll();
}
