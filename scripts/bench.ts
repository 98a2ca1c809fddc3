// npm run bench [-- --quick] [--only enqueue,drain] [--db sqlite] [--binary PATH] [--json-out PATH]
//
// Measures the compiled binary and the library on SQLite, PostgreSQL and MariaDB against a local SMTP sink
// (postfix's smtp-sink) and prints one table; the figures go to bench-results/bench-<timestamp>.json.
// What each step measures and how to read it: docs/benchmarks.md.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { newBench, say } from "./bench/context.ts";
import { DIALECTS, DIALECT_NAMES, benchRoot, dropAll, isServer, serverProblem, type Dialect } from "./bench/db.ts";
import { GNU_TIME, round, runOk } from "./bench/proc.ts";
import { table } from "./bench/report.ts";
import { aptInstall, startSink } from "./bench/sink.ts";
import { cliStep, emptyStep } from "./bench/steps/commands.ts";
import { startupStep } from "./bench/steps/startup.ts";
import { smtpdStep } from "./bench/steps/smtpd.ts";
import { gateSummary } from "./bench/quiet.ts";
import { applyDjangoTargets, djangoStep } from "./bench/steps/django.ts";
import { drainStep } from "./bench/steps/drain.ts";
import { enqueueStep } from "./bench/steps/enqueue.ts";
import { latencyStep } from "./bench/steps/latency.ts";
import { rssStep } from "./bench/steps/rss.ts";
import { webStep } from "./bench/steps/web.ts";
import { apiStep } from "./bench/steps/api.ts";

const STEPS = ["django", "enqueue", "cli", "drain", "ceiling", "empty", "startup", "smtpd", "latency", "rss", "web", "api"] as const;
type Step = (typeof STEPS)[number];

const USAGE = `usage: bun scripts/bench.ts [options]

  --quick            small sizes: 1,000 / 10,000 messages, 5 runs per command, 50 latency samples
  --only STEPS       comma-separated: ${STEPS.join(", ")} (default: all)
  --db DB            sqlite, postgres or mariadb (default: all three; PostgreSQL at
                     $MAILER_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres;
                     MariaDB at $MAILER_BENCH_MARIADB_URL, default mysql://root@127.0.0.1:3306/mysql)
  --binary PATH      the mailer binary to measure (default dist/mailer; built when missing)
  --json-out PATH    where the JSON goes (default bench-results/bench-<timestamp>.json)
  --js-sink          use the smtp-server sink even when smtp-sink is available (to test the fallback)
  --django-mailer DIR
                     also measure django-mailer from this source tree (a checkout of
                     github.com/pinax/django-mailer) in the same run: its figures become the
                     targets of the rows issue 18 compares with it (the django step; without
                     this option the step is skipped and those targets are issue 18's figures)
`;

const ROOT = resolve(import.meta.dir, "..");

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      db: { type: "string" },
      binary: { type: "string", default: join(ROOT, "dist/mailer") },
      "json-out": { type: "string" },
      "js-sink": { type: "boolean", default: false },
      "django-mailer": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const only = values.only ? values.only.split(",").map((s) => s.trim()) : [...STEPS];
  const unknown = only.filter((s) => !STEPS.includes(s as Step));
  if (unknown.length > 0) throw new Error(`--only: unknown step(s) ${unknown.join(", ")}; steps are ${STEPS.join(", ")}`);
  if (values.only && only.includes("django") && !values["django-mailer"]) throw new Error("--only django: give --django-mailer DIR (a django-mailer source tree)");
  if (values.db && !DIALECTS.includes(values.db as Dialect)) throw new Error(`--db: expected sqlite, postgres or mariadb, got ${values.db}`);
  return {
    quick: values.quick!,
    steps: new Set(only as Step[]),
    dialects: values.db ? [values.db as Dialect] : [...DIALECTS],
    binary: resolve(values.binary!),
    jsonOut: values["json-out"],
    jsSink: values["js-sink"]!,
    djangoMailer: values["django-mailer"] ? resolve(values["django-mailer"]) : null,
  };
}

async function ensureBinary(binary: string): Promise<string> {
  if (!existsSync(binary)) {
    say(`${binary} is missing: building it (scripts/build.ts)`);
    await runOk("build", [process.execPath, join(ROOT, "scripts/build.ts"), binary], { cwd: ROOT });
  }
  // Two unmeasured runs: the first exec of a 100 MiB binary reads it from disk.
  await runOk("--version", [binary, "--version"]);
  return (await runOk("--version", [binary, "--version"])).stdout.trim();
}

async function main(): Promise<number> {
  const opts = options();
  const started = new Date();
  const load0 = loadavg();
  const version = await ensureBinary(opts.binary);
  if (!existsSync(GNU_TIME) && opts.steps.has("drain")) await aptInstall("time");

  const notes: string[] = [];
  const dialects: Dialect[] = [];
  for (const dialect of opts.dialects) {
    const problem = isServer(dialect) ? await serverProblem(dialect) : null;
    if (problem) notes.push(`${problem}: ${DIALECT_NAMES[dialect]} skipped`);
    else dialects.push(dialect);
  }
  const sink = await startSink({ forceJs: opts.jsSink, dir: benchRoot() });
  const sinkWarning =
    sink.kind === "smtp-sink"
      ? null
      : `WARNING: the sink is smtp-server (JavaScript) in its own process, not postfix's smtp-sink (${opts.jsSink ? "--js-sink given" : "smtp-sink could not be installed"}). It can be slower than the clients it measures: drain, ceiling and latency figures are NOT comparable with smtp-sink runs.`;
  if (sinkWarning) process.stderr.write(`\n!!! ${sinkWarning} !!!\n\n`);

  const bench = newBench({ binary: opts.binary, quick: opts.quick, dialects, sink, jsSink: opts.jsSink, notes });
  const stop = async () => {
    await sink.stop().catch(() => {});
    await dropAll();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stop().finally(() => process.exit(130)));

  const stepTimes: Record<string, number> = {};
  const timed = async (name: string, body: () => Promise<void>) => {
    const t = performance.now();
    say(`— ${name}`);
    try {
      await body();
    } catch (error) {
      // One broken step (a command not built yet, a timeout) should not cost the other figures.
      const text = error instanceof Error ? error.message : String(error);
      notes.push(`step ${name} FAILED: ${text.split("\n")[0]}`);
      say(`step ${name} failed: ${error instanceof Error ? (error.stack ?? text) : text}`);
    }
    stepTimes[name] = round((performance.now() - t) / 1000, 1);
  };
  try {
    if (opts.steps.has("django") && opts.djangoMailer) await timed("django", () => djangoStep(bench, opts.djangoMailer!));
    if (opts.steps.has("enqueue")) await timed("enqueue", () => enqueueStep(bench));
    if (opts.steps.has("cli")) await timed("cli", () => cliStep(bench));
    if (opts.steps.has("drain") || opts.steps.has("ceiling")) {
      await timed("drain", () => drainStep(bench, opts.steps.has("ceiling") || opts.steps.has("drain"), opts.steps.has("drain")));
    }
    if (opts.steps.has("empty")) await timed("empty", () => emptyStep(bench));
    if (opts.steps.has("startup")) await timed("startup", () => startupStep(bench));
    if (opts.steps.has("smtpd")) await timed("smtpd", () => smtpdStep(bench));
    if (opts.steps.has("latency")) await timed("latency", () => latencyStep(bench));
    if (opts.steps.has("rss")) await timed("rss", () => rssStep(bench));
    if (opts.steps.has("web")) await timed("web", () => webStep(bench));
    if (opts.steps.has("api")) await timed("api", () => apiStep(bench));
  } finally {
    await stop();
  }
  applyDjangoTargets(bench);

  const finished = new Date();
  const load1 = loadavg();
  const seconds = (finished.getTime() - started.getTime()) / 1000;
  const header = [
    `mailer bench — ${version} — ${opts.quick ? "QUICK (small sizes; not the reference figures)" : "full"} — ${finished.toISOString()}`,
    `sink: ${sink.kind}; ${cpus().length} CPUs; load average ${load0[0]!.toFixed(2)} at start, ${load1[0]!.toFixed(2)} at end; ${seconds.toFixed(0)} s`,
    ...(gateSummary() ? [gateSummary()!] : []),
    ...(sinkWarning ? [`!!! ${sinkWarning}`] : []),
  ];
  const output = [...header, "", table(bench.rows, dialects), ...(notes.length ? ["", ...notes.map((n) => `note: ${n}`)] : [])].join("\n");
  process.stdout.write(output + "\n");

  const jsonPath = resolve(opts.jsonOut ?? join(ROOT, "bench-results", `bench-${started.toISOString().replace(/[:.]/g, "-")}.json`));
  mkdirSync(dirname(jsonPath), { recursive: true });
  const json = {
    version,
    binary: opts.binary,
    quick: opts.quick,
    sizes: bench.sizes,
    started: started.toISOString(),
    finished: finished.toISOString(),
    seconds: round(seconds, 1),
    stepSeconds: stepTimes,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "", loadavgStart: load0, loadavgEnd: load1 },
    sink: sink.kind,
    warnings: sinkWarning ? [sinkWarning] : [],
    notes,
    dialects,
    metrics: bench.rows,
    raw: bench.raw,
  };
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + "\n");
  process.stdout.write(`\nJSON: ${jsonPath}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (error) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await dropAll().catch(() => {});
    process.exit(1);
  },
);
