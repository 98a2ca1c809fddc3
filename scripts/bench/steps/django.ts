// Step 0, only with --django-mailer DIR (a django-mailer source tree): django-mailer itself, measured
// in this run on this machine by the same procedures as mailer (scripts/bench/django-mailer.py runs
// it), on SQLite and PostgreSQL:
//   - bulk enqueue of the small count of composed messages (make_message, one bulk_create);
//   - send_mail() of one message per call, one commit each, p50;
//   - its send_mail command on an empty queue, exec-timed from Python like the start-up step;
//   - its send_mail command draining the small count of the bench's messages: rate and peak RSS;
//   - on PostgreSQL, its runmailer_pg from outside (latency.ts latencyFromOutside: a plain-SQL
//     committer, the stamping sink) and its idle CPU and memory.
// Issue 18 states several targets as "≤ / ≥ django-mailer's figure" and copied those figures from a
// run on another machine. With this step, applyDjangoTargets makes this run's figures the targets.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { addRow, say, type Bench } from "../context.ts";
import { freshDb, type BenchDb, type Dialect } from "../db.ts";
import { cleanEnv, median, round, run, runOk, summary } from "../proc.ts";
import { quietGate } from "../quiet.ts";
import { aptInstall } from "../sink.ts";
import type { Target } from "../report.ts";
import { latencyFromOutside, outsideSummary } from "./latency.ts";

/** Debian's interpreter: the one python3-django, python3-lockfile and python3-psycopg2 install into. */
const PYTHON = "/usr/bin/python3";
const HARNESS = join(import.meta.dir, "..", "django-mailer.py");
const PACKAGES = ["python3-django", "python3-lockfile", "python3-psycopg2"];
/** The databases django-mailer's figures in issue 18 were taken on. */
const MEASURED: Dialect[] = ["sqlite", "postgres"];
const SINGLE_CALLS = 500;

/** Why django-mailer cannot run here, or null. Installs Debian's Django packages when missing. */
async function problem(src: string): Promise<string | null> {
  if (!existsSync(join(src, "src", "mailer", "engine.py"))) return `${src} is not a django-mailer source tree (no src/mailer/engine.py)`;
  const importable = async () => (await run([PYTHON, "-c", "import django, lockfile, psycopg2"])).code === 0;
  if (existsSync(PYTHON) && (await importable())) return null;
  await aptInstall(PACKAGES);
  return existsSync(PYTHON) && (await importable()) ? null : `${PYTHON} cannot import django, lockfile and psycopg2 (Debian: ${PACKAGES.join(" ")})`;
}

export async function djangoStep(bench: Bench, src: string): Promise<void> {
  const why = await problem(src);
  if (why) {
    bench.notes.push(`django: skipped (${why}); the django-mailer targets are issue 18's figures from another machine`);
    return;
  }
  const version = (await runOk("django-mailer version", [PYTHON, "-c", `import sys; sys.path.insert(0, ${JSON.stringify(join(src, "src"))}); import mailer, django; print(mailer.__version__, django.get_version())`])).stdout.trim().split(" ");
  const raw: Record<string, unknown> = { version: version[0], django: version[1] };
  bench.raw.django = raw;
  const smtp = bench.sink;
  const harness = (db: BenchDb, cmd: string, extra: Record<string, unknown> = {}, to: { host: string; port: number } = smtp) => [
    PYTHON, HARNESS, JSON.stringify({ src, db: db.url, smtp: [to.host, to.port], lock: join(db.dir, "send_mail"), cmd, ...extra }),
  ];
  const migrated = async (dialect: Dialect) => {
    const db = await freshDb(dialect);
    await runOk("django-mailer migrate", harness(db, "migrate"), { cwd: db.dir });
    return db;
  };
  const label = `django-mailer ${version[0]}`;
  const { small } = bench.sizes;
  for (const dialect of bench.dialects.filter((d) => MEASURED.includes(d))) {
    const figures: Record<string, unknown> = {};
    raw[dialect] = figures;
    const once = async <T>(body: (db: BenchDb) => Promise<T>): Promise<T> => {
      const db = await migrated(dialect);
      try {
        return await body(db);
      } finally {
        await db.drop();
      }
    };

    const bulk = await once(async (db) => {
      await quietGate();
      return JSON.parse((await runOk("django-mailer bulk", harness(db, "bulk", { count: small }), { cwd: db.dir })).stdout) as { rate: number };
    });
    figures.bulk = { rate: round(bulk.rate, 0) };
    addRow(bench, { id: "django.enqueue.composed", label: `${label}: bulk enqueue ${small.toLocaleString("en-US")}, composed (make_message, one bulk_create)`, unit: "msg/s", values: { [dialect]: bulk.rate } });

    const single = await once(async (db) => {
      await quietGate();
      return JSON.parse((await runOk("django-mailer single", harness(db, "single", { count: SINGLE_CALLS }), { cwd: db.dir })).stdout) as { p50: number; p99: number };
    });
    figures.single = { p50: round(single.p50, 3), p99: round(single.p99, 3) };
    addRow(bench, { id: "django.enqueue.single.p50", label: `${label}: send_mail() of one message, ${SINGLE_CALLS} in turn, p50`, unit: "ms", values: { [dialect]: single.p50 } });

    const empty = await once(async (db) => {
      await quietGate();
      const spec = JSON.stringify({ reps: bench.sizes.reps, commands: [{ name: "sendMail", argv: harness(db, "manage", { argv: ["send_mail"] }), env: cleanEnv() }] });
      const result = await runOk("exec-times", ["python3", join(import.meta.dir, "..", "exec-times.py"), spec], { cwd: db.dir, timeoutMs: 600_000 });
      return (JSON.parse(result.stdout) as { sendMail: number[] }).sendMail;
    });
    figures.emptySendMail = summary(empty);
    addRow(bench, { id: "django.empty", label: `${label}: send_mail command on an empty queue (exec from Python)`, unit: "ms", values: { [dialect]: median(empty) } });

    const drain = await once(async (db) => {
      await runOk("django-mailer fill", harness(db, "fill", { count: small, tag: "bench" }), { cwd: db.dir });
      const before = smtp.count();
      const sessions0 = smtp.sessions();
      const gate = await quietGate();
      const result = await runOk("django-mailer send_mail", harness(db, "manage", { argv: ["send_mail"] }), { cwd: db.dir, rss: true, timeoutMs: 1_800_000 });
      await smtp.waitFor(before + small, 10_000);
      return {
        count: small, ms: round(result.ms), rate: round(small / (result.ms / 1000), 0), maxRssKiB: result.maxRssKiB ?? null,
        cpuSeconds: result.cpuSeconds ?? null, smtpSessions: smtp.sessions() - sessions0, gate,
      };
    });
    figures.drain = drain;
    say(`${label} ${dialect}: bulk ${Math.round(bulk.rate)} msg/s, send_mail() p50 ${single.p50.toFixed(2)} ms, empty send_mail ${median(empty).toFixed(0)} ms, drain ${drain.rate} msg/s in ${drain.smtpSessions} SMTP sessions, peak RSS ${((drain.maxRssKiB ?? NaN) / 1024).toFixed(1)} MiB`);
    addRow(bench, { id: "django.drain", label: `${label}: send_mail command draining ${small.toLocaleString("en-US")}`, unit: "msg/s", values: { [dialect]: drain.rate } });
    if (drain.maxRssKiB !== null) {
      addRow(bench, { id: "django.rss", label: `${label}: peak RSS, send_mail draining ${small.toLocaleString("en-US")}`, unit: "MiB", values: { [dialect]: drain.maxRssKiB / 1024 } });
    }

    if (dialect === "postgres") {
      const outside = await latencyFromOutside(bench, async (stampSink) => {
        const db = await migrated("postgres");
        return {
          worker: harness(db, "manage", { argv: ["runmailer_pg"] }, stampSink),
          cwd: db.dir,
          inserter: (count, gapMs, tag) => harness(db, "insert", { count, gapMs, tag }),
          cleanup: () => db.drop(),
        };
      });
      const s = outsideSummary(outside);
      figures.runmailerPg = s.raw;
      say(`${label} runmailer_pg from outside: ${s.text}`);
      addRow(bench, { id: "django.latency.p50", label: `${label}: runmailer_pg commit → SMTP from outside, p50`, unit: "ms", values: { postgres: s.p50 } });
      addRow(bench, { id: "django.latency.p99", label: `${label}: runmailer_pg commit → SMTP from outside, p99`, unit: "ms", values: { postgres: s.p99 } });
      addRow(bench, { id: "django.idle.cpu", label: `${label}: runmailer_pg idle CPU over ${outside.idleMs / 1000} s`, unit: "% core", values: { postgres: s.cpuPercent } });
      addRow(bench, { id: "django.idle.rss", label: `${label}: runmailer_pg idle resident memory`, unit: "MiB", values: { postgres: s.rss } });
    }
  }
  if (bench.dialects.includes("mariadb")) bench.notes.push("django: django-mailer is measured on SQLite and PostgreSQL only (issue 18's comparison)");
}

/** mailer's row ← django-mailer's row whose figure becomes its target, with the comparison. */
const COMPARED: { row: string; django: string; op: ">=" | "<=" }[] = [
  { row: "enqueue.composed", django: "django.enqueue.composed", op: ">=" },
  { row: "rss.small", django: "django.rss", op: "<=" },
  { row: "latency.outside.p99", django: "django.latency.p99", op: "<=" },
  { row: "idle.cpu", django: "django.idle.cpu", op: "<=" },
];

/** After every step: where django-mailer was measured in this run, its figures replace issue 18's
 * copied ones as the targets of the rows that compare with it; and the drains are set beside its. */
export function applyDjangoTargets(bench: Bench): void {
  const byId = (id: string) => bench.rows.find((r) => r.id === id);
  for (const { row, django, op } of COMPARED) {
    const ours = byId(row);
    const theirs = byId(django);
    if (!ours || !theirs) continue;
    // Issue 18's figure stays the target of a database django-mailer was not measured on.
    const old = ours.target;
    const target: Partial<Record<Dialect, Target>> =
      old === undefined ? {} : "op" in old ? Object.fromEntries((Object.keys(ours.values) as Dialect[]).map((d) => [d, old])) : { ...old };
    let measured = 0;
    for (const [dialect, value] of Object.entries(theirs.values) as [Dialect, number][]) {
      if (!Number.isFinite(value)) continue;
      target[dialect] = { op, value };
      measured++;
    }
    if (measured === 0) continue;
    ours.target = target;
    ours.note = "target: django-mailer in this run";
  }
  const drain = byId("django.drain");
  for (const pool of [1, 4]) {
    const ours = byId(`drain.pool${pool}`);
    if (!ours || !drain) continue;
    const values: Partial<Record<Dialect, number>> = {};
    for (const dialect of MEASURED) {
      const a = ours.values[dialect];
      const b = drain.values[dialect];
      if (a !== undefined && b !== undefined) values[dialect] = a / b;
    }
    if (Object.keys(values).length > 0) {
      addRow(bench, { id: `drain.pool${pool}.djangoRatio`, label: `drain ${bench.sizes.small.toLocaleString("en-US")}, pool ${pool} / django-mailer's send_mail`, unit: "ratio", values });
    }
  }
}
