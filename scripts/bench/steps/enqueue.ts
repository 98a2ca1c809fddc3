// Step 1: enqueue through the library into a fresh database: in bulk (openQueue + one enqueueMany
// call), raw RFC 5322 messages and composed ones (from/to/subject/text, what most library callers
// pass, with issue 18's target: django-mailer's figure measured the same way); then one composed
// message per enqueue() call, one commit each (django-mailer's send_mail), timed per call.
import { addRow, enqueueInto, keepFixture, say, type Bench, type EnqueueFigure } from "../context.ts";
import { median, round } from "../proc.ts";

/** enqueue() calls timed one by one (each is a commit: on SQLite an fsync). */
const SINGLE_CALLS = 500;

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
    const single = await enqueueInto(bench, dialect, SINGLE_CALLS, "single");
    await single.db.drop();
    say(`enqueue() one at a time ${dialect}: p50 ${single.figure.p50!.toFixed(3)} ms, p99 ${single.figure.p99!.toFixed(3)} ms`);

    const targets = { sqlite: { op: ">=", value: 50_000 }, postgres: { op: ">=", value: 20_000 } } as const;
    addRow(bench, { id: "enqueue.small", label: `bulk enqueue ${small.toLocaleString("en-US")}, raw`, unit: "msg/s", values: { [dialect]: median(smallRuns.map((r) => r.rate)) }, target: targets });
    addRow(bench, { id: "enqueue.large", label: `bulk enqueue ${large.toLocaleString("en-US")}, raw`, unit: "msg/s", values: { [dialect]: big.figure.rate }, target: targets });
    // django-mailer 2.3.2's bulk enqueue of the same composed messages (issue 18's side-by-side run).
    const djangoMailer = { sqlite: { op: ">=", value: 24_573 }, postgres: { op: ">=", value: 8_274 } } as const;
    addRow(bench, { id: "enqueue.composed", label: `bulk enqueue ${small.toLocaleString("en-US")}, composed`, unit: "msg/s", values: { [dialect]: composed.figure.rate }, target: djangoMailer });
    const oneMs = { sqlite: { op: "<=", value: 1 }, postgres: { op: "<=", value: 1 } } as const;
    addRow(bench, { id: "enqueue.single.p50", label: `library enqueue() of one composed message, ${SINGLE_CALLS} in turn, p50`, unit: "ms", values: { [dialect]: single.figure.p50! }, target: oneMs });
    addRow(bench, { id: "enqueue.single.p99", label: "library enqueue() of one composed message, p99", unit: "ms", values: { [dialect]: single.figure.p99! } });
    raw[dialect] = {
      small: smallRuns.map((r) => ({ ...r, rate: round(r.rate, 0), ms: round(r.ms) })),
      large: { ...big.figure, rate: round(big.figure.rate, 0) },
      composed: { ...composed.figure, rate: round(composed.figure.rate, 0) },
      single: { ...single.figure, rate: round(single.figure.rate, 0) },
    };
  }
  bench.raw.enqueue = raw;
}
