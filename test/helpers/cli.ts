// Drives the compiled binary as cron, systemd or a shell script would: a subprocess with argv, env and stdin.
import { join, resolve } from "node:path";
import { writeFileSync } from "node:fs";

/** The binary under test; MAILER_TEST_BINARY lets parallel work build and test its own copy. */
export const BINARY = resolve(process.env.MAILER_TEST_BINARY ?? resolve(import.meta.dir, "../../dist/mailer"));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdin?: string | Uint8Array;
  timeoutMs?: number;
  /** Run through another name (argv0), e.g. a `sendmail` link. */
  binary?: string;
}

/** The environment a test subprocess gets: the parent's, minus MAILER_* settings that would leak in. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !(k.startsWith("MAILER_") && !k.startsWith("MAILER_TEST_"))) env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export async function runMailer(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const proc = Bun.spawn([options.binary ?? BINARY, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin as Uint8Array]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Start the binary in the background (runmailer, smtpd …). */
export function spawnMailer(args: string[], options: RunOptions = {}) {
  return Bun.spawn([options.binary ?? BINARY, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Write a mailer.toml into `dir` and return its path. */
export function writeConfig(dir: string, text: string, name = "mailer.toml"): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
