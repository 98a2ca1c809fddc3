// The SMTP sink every step sends to: postfix's smtp-sink (C, throws mail away, far faster than any
// client here), installed from Debian's postfix package when missing; an smtp-server sink in its own
// process is the loud fallback. Both print smtp-sink's `-c` running counter ("... mesg=N\r" after
// every "."), which this module reads to know how many messages arrived and when each one did.
//
// Two ways to read it. A throughput sink writes the counter to a file that is read only when a count
// is needed: reading a pipe chunk per message costs the bench ~30 µs of CPU each (~10% of a core at
// 4,000 msg/s), CPU taken from the two cores the measured processes share. A live sink (the latency
// step) reads the pipe as it comes, timestamping each arrival.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { cleanEnv, cpuSecondsOf, run } from "./proc.ts";

export const SMTP_SINK = "/usr/sbin/smtp-sink";

export interface Sink {
  kind: "smtp-sink" | "smtp-server";
  host: string;
  port: number;
  /** Messages received so far (each completed DATA). */
  count(): number;
  /** Resolves with performance.now() at the moment the count first reached `n` (a live sink; a
   * file-backed one polls every 10 ms). */
  waitFor(n: number, timeoutMs?: number): Promise<number>;
  /** SMTP sessions ended so far (the counter's sess=; a session is counted when it ends). */
  sessions(): number;
  /** CPU seconds the sink process has used so far (to show it is not the bottleneck). */
  cpuSeconds(): number;
  /** Why the sink is gone, when it exited before stop(): nothing sent after that arrives anywhere. */
  gone(): string | null;
  stop(): Promise<void>;
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

async function sh(cmd: string[], env: Record<string, string> = {}, stdin?: string): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await run(cmd, { env: cleanEnv(env), stdin });
  return { code, out: stdout + stderr };
}

/** Install Debian packages without prompts, never starting any daemon they ship. */
export async function aptInstall(pkg: string | string[], preseed?: string): Promise<boolean> {
  const pkgs = typeof pkg === "string" ? [pkg] : pkg;
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return false;
  log(`installing Debian package(s) ${pkgs.join(" ")} (apt-get)…`);
  // policy-rc.d exit 101 tells invoke-rc.d "do not start services": postfix's daemon is never started.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, "#!/bin/sh\n# mailer bench: never start services while installing\nexit 101\n", { mode: 0o755 });
  try {
    if (preseed) await sh(["debconf-set-selections"], {}, preseed + "\n");
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    const update = await sh(["apt-get", "update", "-q"], env);
    if (update.code !== 0) log(`apt-get update failed (trying the install anyway): ${update.out.trim().split("\n").pop()}`);
    const install = await sh(["apt-get", "install", "-y", "-q", "--no-install-recommends", ...pkgs], env);
    if (install.code !== 0) {
      log(`apt-get install ${pkgs.join(" ")} failed: ${install.out.trim().split("\n").slice(-3).join(" | ")}`);
      return false;
    }
    return true;
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

async function ensureSmtpSink(): Promise<boolean> {
  if (existsSync(SMTP_SINK)) return true;
  await aptInstall("postfix", "postfix postfix/main_mailer_type select No configuration");
  return existsSync(SMTP_SINK);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startSink(options: { forceJs?: boolean; live?: boolean; dir: string }): Promise<Sink> {
  const useSmtpSink = !options.forceJs && (await ensureSmtpSink());
  const port = await freePort();
  const cmd = useSmtpSink
    ? // -c: running counters on stdout; -u: drop root privileges (required as root); 256: listen backlog.
      [SMTP_SINK, "-c", ...(process.getuid?.() === 0 ? ["-u", "postfix"] : []), `127.0.0.1:${port}`, "256"]
    : [process.execPath, join(import.meta.dir, "js-sink.ts"), String(port)];
  const counterFile = join(options.dir, `sink-${port}.out`);
  const child = Bun.spawn(cmd, {
    env: cleanEnv(),
    stdout: options.live ? "pipe" : Bun.file(counterFile),
    stderr: "ignore",
    stdin: "ignore",
  });

  let received = 0;
  let sessions = 0;
  let stopping = false;
  let gone: string | null = null;
  const waiters: Array<{ n: number; resolve: (t: number) => void }> = [];
  // A sink that dies mid-run (smtp-sink started while postfix was still being installed and its
  // user did not exist yet) once left an hour-long soak counting deferrals: say so instead.
  void child.exited.then((code) => {
    if (!stopping) gone = `the SMTP sink (${cmd[0]}) exited with code ${code} while in use`;
  });
  const settle = (now: number) => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.n <= received) waiters.splice(i, 1)[0]!.resolve(now);
    }
  };
  let reader: Promise<void> = Promise.resolve();
  let poller: ReturnType<typeof setInterval> | null = null;
  if (options.live) {
    const stdout = child.stdout as ReadableStream<Uint8Array>;
    reader = (async () => {
      const decoder = new TextDecoder();
      let tail = "";
      for await (const chunk of stdout) {
        const now = performance.now();
        tail = (tail + decoder.decode(chunk, { stream: true })).slice(-256);
        const counters = lastCounters(tail);
        sessions = Math.max(sessions, counters.sess);
        const n = counters.mesg;
        if (n <= received) continue;
        received = n;
        settle(now);
      }
    })();
  } else {
    poller = setInterval(() => {
      if (waiters.length === 0) return;
      received = Math.max(received, countersInFile(counterFile).mesg);
      settle(performance.now());
    }, 10);
  }

  await waitListening(port, child);
  const sink: Sink = {
    kind: useSmtpSink ? "smtp-sink" : "smtp-server",
    host: "127.0.0.1",
    port,
    count: () => (options.live ? received : (received = Math.max(received, countersInFile(counterFile).mesg))),
    sessions: () => (options.live ? sessions : countersInFile(counterFile).sess),
    waitFor(n, timeoutMs = 30_000) {
      if (sink.count() >= n) return Promise.resolve(performance.now());
      if (gone) return Promise.reject(new Error(gone));
      return new Promise((resolve, reject) => {
        const waiter = {
          n,
          resolve: (t: number) => {
            clearTimeout(timer);
            resolve(t);
          },
        };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`sink: waited ${timeoutMs} ms for message ${n}, have ${received}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    cpuSeconds: () => cpuSecondsOf(child.pid),
    gone: () => gone,
    async stop() {
      stopping = true;
      if (poller) clearInterval(poller);
      child.kill("SIGTERM");
      await child.exited;
      await reader.catch(() => {});
      rmSync(counterFile, { force: true });
    },
  };
  return sink;
}

interface Counters {
  sess: number;
  mesg: number;
}

/** The last complete "sess=N quit=N mesg=N" in the text. */
function lastCounters(text: string): Counters {
  const all = [...text.matchAll(/sess=(\d+) quit=\d+ mesg=(\d+)/g)];
  const last = all[all.length - 1];
  return last ? { sess: Number(last[1]), mesg: Number(last[2]) } : { sess: 0, mesg: 0 };
}

/** The counters' latest values, from the file's final bytes. */
function countersInFile(path: string): Counters {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return { sess: 0, mesg: 0 };
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 256);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return lastCounters(buffer.toString("latin1"));
  } finally {
    closeSync(fd);
  }
}

async function waitListening(port: number, child: { exited: Promise<number> }): Promise<void> {
  let exited = false;
  child.exited.then(() => (exited = true));
  for (let i = 0; i < 100; i++) {
    if (exited) throw new Error("the SMTP sink exited at start");
    const ok = await new Promise<boolean>((resolve) => {
      const socket = Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: { open: (s) => (s.end(), resolve(true)), data: () => {}, error: () => resolve(false), connectError: () => resolve(false) },
      }).catch(() => resolve(false));
      void socket;
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the SMTP sink did not listen on port ${port}`);
}
