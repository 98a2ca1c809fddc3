// A long-running mailer command (smtpd, web) as a background process of the compiled binary: started
// on a free loopback port, waited for until it logs that it listens, stopped with SIGTERM.
import { spawnMailer, type RunOptions } from "./cli.ts";
import { readLines } from "./lines.ts";

export interface ServiceProcess {
  port: number;
  proc: ReturnType<typeof spawnMailer>;
  /** Every stderr line so far (JSON log lines). */
  lines: string[];
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number>;
}

/** `args` must include --log-format json; `listening` matches the log line that carries the port. */
export async function startService(args: string[], listening: RegExp, options: RunOptions = {}): Promise<ServiceProcess> {
  const proc = spawnMailer(args, options);
  const stderr = readLines(proc.stderr as ReadableStream<Uint8Array>);
  const service: ServiceProcess = {
    port: 0,
    proc,
    lines: stderr.lines,
    waitForLog: (pattern, timeoutMs = 15_000) => stderr.waitFor(pattern, timeoutMs),
    async stop() {
      proc.kill("SIGTERM");
      return proc.exited;
    },
  };
  const line = await Promise.race([
    service.waitForLog(listening),
    proc.exited.then((code) => {
      throw new Error(`mailer ${args[0]} exited ${code} before listening:\n${stderr.lines.join("\n")}`);
    }),
  ]);
  service.port = JSON.parse(line).port;
  return service;
}
