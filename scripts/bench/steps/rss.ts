// Step 7: peak resident memory of `send-mail` draining the small and the large queue (pool 4), read
// by /usr/bin/time -v (or /proc VmHWM). A pass that streams its batches should need about the same
// memory for 100,000 messages as for 10,000. The small figure reuses the drain step's pool-4 runs when
// there were any.
import { addRow, say, type Bench } from "../context.ts";
import type { Dialect } from "../db.ts";
import { median } from "../proc.ts";
import type { SourceRun } from "../wire.ts";
import { drainOnce, type DrainFigure } from "./drain.ts";

const POOL = 4;

export async function rssStep(bench: Bench): Promise<void> {
  const { small, large } = bench.sizes;
  const earlier = ((bench.raw.drain as { runs?: Record<string, DrainFigure[]> } | undefined)?.runs ?? {}) as Record<string, DrainFigure[]>;
  const raw: Record<string, unknown> = {};
  const mib = (kib: number | null) => (kib === null ? NaN : kib / 1024);
  for (const dialect of bench.dialects as Dialect[]) {
    let smallRuns = (earlier[`${dialect}.pool${POOL}`] ?? []).filter((d) => d.maxRssKiB !== null);
    if (smallRuns.length === 0) smallRuns = [await drainOnce(bench, dialect, small, POOL)];
    const big = await drainOnce(bench, dialect, large, POOL);
    const smallMiB = median(smallRuns.map((d) => mib(d.maxRssKiB)));
    const bigMiB = mib(big.maxRssKiB);
    say(`rss ${dialect}: ${smallMiB.toFixed(1)} MiB for ${small}, ${bigMiB.toFixed(1)} MiB for ${large} (drain ${big.rate} msg/s)`);
    const s = small.toLocaleString("en-US");
    const l = large.toLocaleString("en-US");
    // Issue 18's targets: django-mailer's own peak for the same drain on each database.
    addRow(bench, {
      id: "rss.small", label: `peak RSS, send-mail draining ${s} (pool ${POOL})`, unit: "MiB", values: { [dialect]: smallMiB },
      target: { sqlite: { op: "<=", value: 64 }, postgres: { op: "<=", value: 84 } },
    });
    addRow(bench, { id: "rss.large", label: `peak RSS, send-mail draining ${l} (pool ${POOL})`, unit: "MiB", values: { [dialect]: bigMiB } });
    addRow(bench, { id: "rss.ratio", label: `peak RSS ${l} / ${s}`, unit: "ratio", values: { [dialect]: bigMiB / smallMiB }, target: { op: "<=", value: 1.2 } });
    addRow(bench, { id: "drain.large", label: `drain ${l} by send-mail, pool ${POOL}`, unit: "msg/s", values: { [dialect]: big.rate } });
    const wires = (bench.raw.wire as Record<string, SourceRun[]> | undefined)?.[`pool${POOL}`];
    if (wires?.length) {
      addRow(bench, {
        id: "drain.large.wireRatio", label: `drain ${l} / wire, pool ${POOL} (one run)`, unit: "ratio", values: { [dialect]: big.rate / median(wires.map((w) => w.rate)) },
        target: { sqlite: { op: ">=", value: 0.6 }, postgres: { op: ">=", value: 0.45 } },
      });
    }
    raw[dialect] = { small: smallRuns, large: big };
  }
  bench.raw.rss = raw;
}
