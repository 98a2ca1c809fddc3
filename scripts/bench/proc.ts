// Running things and summarising numbers: child processes timed from spawn to exit, peak RSS from
// /usr/bin/time -v (or /proc VmHWM when GNU time is missing), medians and percentiles.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { JIT_POLICY } from "../build.ts";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Spawn to exit, milliseconds. */
  ms: number;
  /** Peak resident set size in KiB, when asked for. */
  maxRssKiB?: number;
  /** User plus system CPU seconds, when GNU time measured the peak RSS. */
  cpuSeconds?: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  stdin?: string;
  cwd?: string;
  /** Measure peak RSS (wraps the command in /usr/bin/time -v, or polls /proc VmHWM). */
  rss?: boolean;
  timeoutMs?: number;
}

/** The environment children get: ours without any MAILER_* override (those would change the config). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("MAILER_")) env[k] = v;
  // Child bun processes and scripts/build.ts find the same bun that runs the bench.
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ""}`;
  return { ...env, ...extra };
}

export const GNU_TIME = "/usr/bin/time";

/** Compiles `entry` into a standalone executable with the flags mailer's own build uses
 * (scripts/build.ts), so that a floor program starts and runs as mailer does. */
export async function compileLikeMailer(entry: string, outfile: string): Promise<string> {
  const flags = ["--compile", "--bytecode", "--format=esm", `--compile-jit-policy=${JIT_POLICY}`];
  await runOk(`bun build ${entry}`, [process.execPath, "build", ...flags, entry, "--outfile", outfile], { cwd: dirname(outfile) });
  return outfile;
}

export async function run(cmd: string[], options: RunOptions = {}): Promise<RunResult> {
  let argv = cmd;
  let timeFile: string | null = null;
  const useGnuTime = options.rss && existsSync(GNU_TIME);
  if (useGnuTime) {
    timeFile = `/tmp/mailer-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}.txt`;
    argv = [GNU_TIME, "-v", "-o", timeFile, ...cmd];
  }
  const started = performance.now();
  const child = Bun.spawn(argv, {
    env: options.env ?? cleanEnv(),
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  let hwm = 0;
  let poll: ReturnType<typeof setInterval> | null = null;
  if (options.rss && !useGnuTime) {
    // VmHWM is the process's own high-water mark: the last value read before exit is the peak,
    // give or take what it grew in its final 20 ms.
    poll = setInterval(() => (hwm = Math.max(hwm, readHwm(child.pid))), 20);
  }
  const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : null;
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const ms = performance.now() - started;
  if (timer) clearTimeout(timer);
  if (poll) clearInterval(poll);
  const result: RunResult = { code, stdout, stderr, ms };
  if (timeFile) {
    const text = existsSync(timeFile) ? readFileSync(timeFile, "utf8") : "";
    rmSync(timeFile, { force: true });
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
    if (m) result.maxRssKiB = Number(m[1]);
    const cpu = [/User time \(seconds\): ([\d.]+)/, /System time \(seconds\): ([\d.]+)/].map((re) => re.exec(text)?.[1]);
    if (cpu.every((v) => v !== undefined)) result.cpuSeconds = Number(cpu[0]) + Number(cpu[1]);
    // GNU time notes a non-zero exit in its own output; the command's code is what we return.
  } else if (options.rss && hwm > 0) {
    result.maxRssKiB = hwm;
  }
  return result;
}

/** CPU seconds (user + system, every thread) a running process has used so far, from /proc/PID/stat;
 * NaN once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    // utime and stime are fields 14 and 15 of the line, the 12th and 13th after the ")" closing the
    // command name (which may itself hold spaces).
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function readHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Run and insist on exit 0 (the bench measures working commands). */
export async function runOk(what: string, cmd: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(cmd, options);
  if (result.code !== 0) {
    throw new Error(`${what} exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(0, 800)}`);
  }
  return result;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p99 of 200 samples is the 198th smallest). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summary(values: number[]) {
  return {
    n: values.length,
    median: round(median(values)),
    p99: round(percentile(values, 99)),
    min: round(Math.min(...values)),
    max: round(Math.max(...values)),
  };
}

export const round = (x: number, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
