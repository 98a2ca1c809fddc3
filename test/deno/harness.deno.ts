// A tiny test harness for the Deno smoke suite. It is a plain script (not `deno test`) so it can
// print the one closing line CI reads, "N passed, N failed, N skipped", and exit non-zero on failure.
// Named *.deno.ts so `bun test` (which collects *.test.ts, *_test.ts, *.spec.ts) never picks it up.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

/** Thrown by a step to be counted as skipped (with its reason) rather than failed. */
export class Skip extends Error {}

const counts = { passed: 0, failed: 0, skipped: 0 };

export async function step(name: string, fn: () => Promise<void> | void): Promise<void> {
  const started = Date.now();
  try {
    await fn();
    counts.passed++;
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    if (error instanceof Skip) {
      counts.skipped++;
      console.log(`skip  ${name}: ${error.message}`);
      return;
    }
    counts.failed++;
    console.log(`FAIL  ${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}

/** Prints the closing line and returns the exit code. */
export function finish(): number {
  console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  return counts.failed > 0 ? 1 : 0;
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

export function assertEqual(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno run -A src/cli.ts ARGS` in `cwd`, as an operator running from source would. process.execPath
 * is the Deno executable running this script. MAILER_* from the caller's environment is left out. */
export function mailer(args: string[], options: { cwd: string; stdin?: string; env?: Record<string, string> }): Promise<CliRun> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("MAILER_")) env[k] = v;
  Object.assign(env, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["run", "-A", CLI, ...args], { cwd: options.cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += String(chunk)));
    child.stderr.on("data", (chunk) => (stderr += String(chunk)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

