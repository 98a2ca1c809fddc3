// `mailer smtpd`, the SMTP intake, driven by postfix's smtp-source (C): the greeting time (from
// Python, connect to the 220), then N messages from 20 clients with a new connection per message (as
// Django's send_mail or PHPMailer connect), then N over 20 sessions that each keep their connection.
// Every message must be in the queue afterwards. Targets from issue 18.
import { join } from "node:path";
import { sql } from "kysely";
import { addRow, say, type Bench } from "../context.ts";
import { usingDatabase, type BenchDb, type Dialect } from "../db.ts";
import { cleanEnv, cpuSecondsOf, percentile, round, run, runOk, sleep, summary } from "../proc.ts";
import { quietGate } from "../quiet.ts";
import { freePort } from "../sink.ts";
import { smtpSource, wireAvailable } from "../wire.ts";
import { migratedDb } from "./commands.ts";

const CLIENTS = 20;

/** Waits for the greeting; `output` is what smtpd wrote, quoted if it never greets. */
async function greetsOn(port: number, timeoutMs: number, output: Promise<string>, exited: Promise<number>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    const probe = await run(["python3", join(import.meta.dir, "..", "greeting.py"), "127.0.0.1", String(port), "1"]);
    if (probe.code === 0) return;
    if (gone || Date.now() > deadline) {
      const said = gone ? (await output).trim() : "";
      throw new Error(`smtpd did not greet on ${port}: ${probe.stderr.trim()}${said ? `; smtpd said: ${said.slice(0, 800)}` : ""}`);
    }
    await sleep(100);
  }
}

/** A running `mailer smtpd` on a fresh, migrated database of this dialect, greeting on `port`. */
export interface RunningSmtpd {
  db: BenchDb;
  port: number;
  pid: number;
}

/** Starts `mailer smtpd` (bench.binary) on a fresh database, runs `use`, then stops it and drops the
 * database. */
export async function withSmtpd<T>(bench: Bench, dialect: Dialect, use: (smtpd: RunningSmtpd) => Promise<T>): Promise<T> {
  const { db, config } = await migratedDb(bench, dialect);
  const port = await freePort();
  const child = Bun.spawn([bench.binary, "smtpd", "--config", config, "--listen", `127.0.0.1:${port}`], {
    cwd: db.dir, env: cleanEnv(), stdout: "ignore", stderr: "pipe", stdin: "ignore",
  });
  // Read as it comes, so that a chatty smtpd never fills the pipe and stalls on it.
  const output = new Response(child.stderr).text();
  try {
    await greetsOn(port, 15_000, output, child.exited);
    return await use({ db, port, pid: child.pid });
  } finally {
    child.kill("SIGTERM");
    await child.exited;
    await db.drop();
  }
}

/** smtp-source against a running smtpd, with the CPU smtpd spent on it (µs per message, all threads). */
export async function smtpdRun(smtpd: RunningSmtpd, count: number, reuse: boolean) {
  const cpu0 = cpuSecondsOf(smtpd.pid);
  const figure = await smtpSource("127.0.0.1", smtpd.port, count, CLIENTS, reuse);
  return { ...figure, cpuMicrosPerMessage: round(((cpuSecondsOf(smtpd.pid) - cpu0) * 1e6) / count, 0) };
}

export async function smtpdStep(bench: Bench): Promise<void> {
  if (!wireAvailable()) {
    bench.notes.push("smtpd: /usr/sbin/smtp-source missing: step skipped");
    return;
  }
  const count = bench.sizes.small;
  const raw: Record<string, unknown> = {};
  for (const dialect of bench.dialects) {
    await withSmtpd(bench, dialect, async (smtpd) => {
      const greetingGate = await quietGate();
      const greeting = JSON.parse((await runOk("greeting", ["python3", join(import.meta.dir, "..", "greeting.py"), "127.0.0.1", String(smtpd.port), String(bench.sizes.latencySamples)])).stdout) as number[];
      const fresh = await smtpdRun(smtpd, count, false);
      const reused = await smtpdRun(smtpd, count, true);
      const stored = await usingDatabase(smtpd.db, async (k) => Number((await sql<{ n: number }>`select count(*) as n from mailer_message`.execute(k)).rows[0]!.n));
      if (stored !== 2 * count) throw new Error(`smtpd stored ${stored} of ${2 * count} messages`);
      say(`smtpd ${dialect}: greeting p50 ${percentile(greeting, 50).toFixed(2)} ms; ${fresh.rate} msg/s new connection each (${fresh.cpuMicrosPerMessage} µs CPU each), ${reused.rate} msg/s over ${CLIENTS} kept sessions (${reused.cpuMicrosPerMessage} µs)`);
      addRow(bench, { id: "smtpd.greeting.p50", label: "smtpd greeting (connect → 220), p50", unit: "ms", values: { [dialect]: percentile(greeting, 50) }, target: { op: "<=", value: 5 } });
      addRow(bench, { id: "smtpd.greeting.p99", label: "smtpd greeting (connect → 220), p99", unit: "ms", values: { [dialect]: percentile(greeting, 99) } });
      const n = count.toLocaleString("en-US");
      addRow(bench, { id: "smtpd.fresh", label: `smtpd: ${n} msgs, ${CLIENTS} clients, a new connection per message (smtp-source -s ${CLIENTS})`, unit: "msg/s", values: { [dialect]: fresh.rate }, target: { op: ">=", value: 1000 } });
      addRow(bench, { id: "smtpd.reused", label: `smtpd: ${n} msgs over ${CLIENTS} kept sessions (smtp-source -s ${CLIENTS} -d)`, unit: "msg/s", values: { [dialect]: reused.rate }, target: { op: ">=", value: 5000 } });
      addRow(bench, { id: "smtpd.reused.cpu", label: "smtpd's CPU per message over the kept sessions (every thread)", unit: "µs", values: { [dialect]: reused.cpuMicrosPerMessage } });
      raw[dialect] = { greeting: { ...summary(greeting), gate: greetingGate }, fresh, reused };
    });
  }
  bench.raw.smtpd = raw;
}
