// Commit-to-SMTP latency of runmailer-pg: 200 messages, one at a time, each timed from just before
// its INSERT transaction to the sink's acceptance. The beat is 60 s, so only NOTIFY can deliver in
// time; the path notify -> pass -> claim -> send must contain no sleep. Prints p50/p99 (the
// official figures come from scripts/bench); fails only if p99 passes 1 s.
import { afterEach, expect } from "bun:test";
import { testFor } from "../helpers/dialects.ts";
import { pgBench, type ServerBench } from "../helpers/server-bench.ts";

const it = testFor("postgres");
let b: ServerBench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

it("200 sequential messages: commit-to-SMTP p99 under 1 s (p50/p99 printed)", async () => {
  b = await pgBench({ delivery: { empty_queue_sleep: 60 } });
  let arrived: (() => void) | null = null;
  b.react = () => {
    arrived?.();
    return undefined;
  };
  const w = b.spawn(["runmailer-pg"]);
  await w.stderr.waitFor(/listening for new mail/);
  const samples: number[] = [];
  for (let i = 0; i < 200; i++) {
    const delivered = new Promise<number>((resolve) => (arrived = () => resolve(performance.now())));
    const start = performance.now();
    await b.enqueue(1, "latency");
    samples.push((await delivered) - start);
  }
  samples.sort((x, y) => x - y);
  const [p50, p99] = [percentile(samples, 50), percentile(samples, 99)];
  console.log(`runmailer-pg commit-to-SMTP over 200 messages: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${samples.at(-1)!.toFixed(1)} ms`);
  expect(p99).toBeLessThan(1000);
});
