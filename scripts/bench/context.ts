// What every step shares: the options, the sink, the rows and raw figures gathered so far, and the
// queued databases one step leaves for another (a bulk-enqueue database is then drained, so the
// full run does not enqueue the same 10,000 messages twice).
import { join } from "node:path";
import { freshDb, writeConfig, type BenchDb, type Dialect } from "./db.ts";
import { runOk } from "./proc.ts";
import type { Row } from "./report.ts";
import type { Sink } from "./sink.ts";

export interface Sizes {
  /** "10,000": bulk enqueue, drains, ceiling, RSS. */
  small: number;
  /** "100,000": bulk enqueue, RSS. */
  large: number;
  /** Process runs per command figure (median). */
  reps: number;
  /** Drain and ceiling runs per figure (median). */
  drainReps: number;
  latencySamples: number;
}

export const FULL: Sizes = { small: 10_000, large: 100_000, reps: 20, drainReps: 3, latencySamples: 200 };
export const QUICK: Sizes = { small: 1_000, large: 10_000, reps: 5, drainReps: 1, latencySamples: 50 };

export interface Bench {
  binary: string;
  sizes: Sizes;
  quick: boolean;
  dialects: Dialect[];
  /** The throughput sink (counter in a file; the latency step starts a live one of its own). */
  sink: Sink;
  jsSink: boolean;
  rows: Row[];
  /** Everything measured, per step, for the JSON file. */
  raw: Record<string, unknown>;
  notes: string[];
  /** Databases holding `count` freshly enqueued bench messages, not yet drained. */
  fixtures: Map<string, BenchDb[]>;
}

/** A Bench with nothing measured yet. */
export function newBench(options: { binary: string; quick: boolean; dialects: Dialect[]; sink: Sink; jsSink: boolean; notes?: string[] }): Bench {
  return { ...options, sizes: options.quick ? QUICK : FULL, notes: options.notes ?? [], rows: [], raw: {}, fixtures: new Map() };
}

export const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

export function addRow(bench: Bench, row: Row): Row {
  const existing = bench.rows.find((r) => r.id === row.id);
  if (existing) {
    Object.assign(existing.values, row.values);
    return existing;
  }
  bench.rows.push(row);
  return row;
}

export interface EnqueueFigure {
  count: number;
  ms: number;
  openMs: number;
  rate: number;
  /** The stored text is byte for byte what the ceiling sends (raw mode). */
  sameBytes: boolean | null;
  /** single mode: one enqueue() call's milliseconds, median and 99th percentile. */
  p50?: number;
  p99?: number;
}

/** A fresh database with `count` bench messages enqueued through the library (a child process). */
export async function enqueueInto(
  bench: Bench,
  dialect: Dialect,
  count: number,
  mode: "raw" | "composed" | "single" = "raw",
): Promise<{ db: BenchDb; config: string; figure: EnqueueFigure }> {
  const db = await freshDb(dialect);
  const config = writeConfig(db, { smtp: bench.sink });
  const args = JSON.stringify({ config, count, mode });
  const result = await runOk(`enqueue ${count} (${dialect})`, [process.execPath, join(import.meta.dir, "enqueue.ts"), args], {
    cwd: db.dir,
  });
  return { db, config, figure: JSON.parse(result.stdout.trim()) as EnqueueFigure };
}

export function keepFixture(bench: Bench, db: BenchDb, count: number): void {
  const key = `${db.dialect}:${count}`;
  bench.fixtures.set(key, [...(bench.fixtures.get(key) ?? []), db]);
}

/** A database with `count` queued bench messages: one left by an earlier step, else a new one. */
export async function takeFixture(bench: Bench, dialect: Dialect, count: number): Promise<BenchDb> {
  const spare = bench.fixtures.get(`${dialect}:${count}`)?.shift();
  if (spare) return spare;
  return (await enqueueInto(bench, dialect, count)).db;
}
