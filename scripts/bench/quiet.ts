// The quiet-machine gate: before a timed run, wait until the CPUs are idle (what the last run left
// behind, a database's background work, anything else on the machine), so that one run's noise does
// not fall on the next; what the gate saw is kept with the figure.
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";

export interface Quiet {
  /** Share of CPU time idle over the last sample window (0..1, all CPUs). */
  idle: number;
  /** The 1-minute load average then. */
  load1: number;
  /** How long the gate waited. */
  waitedMs: number;
  /** False when the machine never got quiet within the wait: the figure was taken anyway, and says so. */
  quiet: boolean;
}

function cpuTimes(): { idle: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are "not running anything".
  const idle = fields[3]! + (fields[4] ?? 0);
  return { idle, total: fields.slice(0, 8).reduce((a, b) => a + b, 0) };
}

/** CPU idle share over `windowMs`. */
export async function idleShare(windowMs: number): Promise<number> {
  const a = cpuTimes();
  await Bun.sleep(windowMs);
  const b = cpuTimes();
  return b.total === a.total ? 1 : (b.idle - a.idle) / (b.total - a.total);
}

/** Every gate passed in this run, for the report's summary line. */
export const gatesPassed: Quiet[] = [];

/** Waits for `minIdle` idle over a 250 ms window, for at most `maxWaitMs`. */
export async function quietGate(minIdle = 0.9, maxWaitMs = 20_000): Promise<Quiet> {
  const started = performance.now();
  for (;;) {
    const idle = await idleShare(250);
    const waitedMs = Math.round(performance.now() - started);
    if (idle >= minIdle || waitedMs >= maxWaitMs) {
      const gate = { idle: Math.round(idle * 1000) / 1000, load1: Math.round(loadavg()[0]! * 100) / 100, waitedMs, quiet: idle >= minIdle };
      gatesPassed.push(gate);
      return gate;
    }
  }
}

/** One line on how quiet the timed runs began. */
export function gateSummary(): string | null {
  if (gatesPassed.length === 0) return null;
  const loud = gatesPassed.filter((g) => !g.quiet).length;
  const idle = gatesPassed.map((g) => g.idle).sort((a, b) => a - b);
  const load = gatesPassed.map((g) => g.load1);
  return (
    `quiet gate before ${gatesPassed.length} timed runs: CPU idle ${idle[0]}–${idle.at(-1)} (need ≥ 0.9), ` +
    `1-min load ${Math.min(...load).toFixed(2)}–${Math.max(...load).toFixed(2)}, waited ${Math.round(gatesPassed.reduce((n, g) => n + g.waitedMs, 0) / 1000)} s in all` +
    (loud > 0 ? `; ${loud} run(s) never got quiet within 20 s and were taken anyway` : "")
  );
}
