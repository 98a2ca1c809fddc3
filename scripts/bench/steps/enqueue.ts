// Step 1: bulk enqueue through the library (openQueue + one enqueueMany call) into a fresh database.
// Raw RFC 5322 messages are the figure with a target; nodemailer-composed ones are shown beside it,
// because composing is what most library callers do and it costs more than the insert.
import { addRow, enqueueInto, keepFixture, say, type Bench, type EnqueueFigure } from "../context.ts";
import { median, round } from "../proc.ts";

export async function enqueueStep(bench: Bench): Promise<void> {
  const { small, large, drainReps } = bench.sizes;
  const raw: Record<string, unknown> = {};
  for (const dialect of bench.dialects) {
    // Several small runs (their databases are drained later, pool 1 and pool 4 per repetition).
    const smallRuns: EnqueueFigure[] = [];
    for (let i = 0; i < 2 * Math.max(1, drainReps); i++) {
      const { db, figure } = await enqueueInto(bench, dialect, small);
      smallRuns.push(figure);
      keepFixture(bench, db, small);
      say(`enqueue ${small} ${dialect}: ${Math.round(figure.rate)} msg/s`);
    }
    if (smallRuns.some((r) => r.sameBytes === false)) {
      bench.notes.push(`${dialect}: the stored message text differs from the generated one: the ceiling does not send the same bytes`);
    }
    const big = await enqueueInto(bench, dialect, large);
    keepFixture(bench, big.db, large);
    say(`enqueue ${large} ${dialect}: ${Math.round(big.figure.rate)} msg/s`);
    const composed = await enqueueInto(bench, dialect, small, "composed");
    await composed.db.drop();
    say(`enqueue ${small} composed ${dialect}: ${Math.round(composed.figure.rate)} msg/s`);

    const targets = { sqlite: { op: ">=", value: 50_000 }, postgres: { op: ">=", value: 20_000 } } as const;
    addRow(bench, { id: "enqueue.small", label: `bulk enqueue ${small.toLocaleString("en-US")}, raw`, unit: "msg/s", values: { [dialect]: median(smallRuns.map((r) => r.rate)) }, target: targets });
    addRow(bench, { id: "enqueue.large", label: `bulk enqueue ${large.toLocaleString("en-US")}, raw`, unit: "msg/s", values: { [dialect]: big.figure.rate }, target: targets });
    addRow(bench, { id: "enqueue.composed", label: `bulk enqueue ${small.toLocaleString("en-US")}, nodemailer-composed`, unit: "msg/s", values: { [dialect]: composed.figure.rate } });
    raw[dialect] = {
      small: smallRuns.map((r) => ({ ...r, rate: round(r.rate, 0), ms: round(r.ms) })),
      large: { ...big.figure, rate: round(big.figure.rate, 0) },
      composed: { ...composed.figure, rate: round(composed.figure.rate, 0) },
    };
  }
  bench.raw.enqueue = raw;
}
