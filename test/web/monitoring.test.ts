// What operators load into Prometheus and Grafana: the alert rules pass `promtool check rules` and
// their unit tests, both /metrics expositions pass `promtool check metrics`, and every metric the
// Grafana dashboard queries is one mailer exports.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { queueMetrics } from "../../src/web/metrics/queue.ts";
import { workerMetrics } from "../../src/web/metrics/worker.ts";
import { tempDir } from "../helpers/db.ts";

const DOCS = resolve(import.meta.dir, "../../docs");
const PROMTOOL = Bun.which("promtool");

async function promtool(args: string[], stdin?: string) {
  if (!PROMTOOL) throw new Error("promtool is missing: apt-get install prometheus (.ci/run does)");
  const proc = Bun.spawn([PROMTOOL, ...args], { cwd: resolve(DOCS, "prometheus"), stdin: stdin === undefined ? "ignore" : new Blob([stdin]), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: out + err };
}

describe("monitoring files", () => {
  let db: Database;
  const dir = tempDir("mailer-monitoring-");
  let consoleText = "";
  let workerText = "";
  beforeAll(async () => {
    db = await openDatabase(`sqlite:${dir.path}/q.db`);
    await migrateToLatest(db);
    consoleText = await queueMetrics(db, () => new Date()).metrics();
    const worker = workerMetrics("runmailer-pg");
    worker.observer.outcome({ id: 1, message_id: "<a@b>", result: "sent", duration_ms: 12, recipients: 1, delivered: 1 });
    worker.observer.claimed(0.002, 1);
    worker.observer.recorded(0.003, 1);
    worker.observer.passFinished({ sent: 1, deferred: 0, failed: 0, dontSend: 0, lockHeld: false });
    worker.listening(true);
    workerText = await worker.registry.metrics();
  });
  afterAll(async () => {
    await db?.close();
    dir.cleanup();
  });

  test("the alert rules are valid and their unit tests pass", async () => {
    const check = await promtool(["check", "rules", "mailer-alerts.yml"]);
    expect({ code: check.code, output: check.output }).toMatchObject({ code: 0 });
    const unit = await promtool(["test", "rules", "mailer-alerts.test.yml"]);
    expect({ code: unit.code, output: unit.output }).toMatchObject({ code: 0 });
  });

  test("both expositions pass promtool check metrics", async () => {
    for (const text of [consoleText, workerText]) {
      const result = await promtool(["check", "metrics"], text);
      expect({ code: result.code, output: result.output }).toEqual({ code: 0, output: "" });
    }
  });

  test("every metric the Grafana dashboard and the alerts query is exported", () => {
    const exported = new Set([...consoleText.matchAll(/^# TYPE (\S+) (\S+)/gm), ...workerText.matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap(([, name, type]) =>
      type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]));
    const dashboard = JSON.parse(readFileSync(resolve(DOCS, "grafana/mailer-dashboard.json"), "utf8"));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets: Array<{ expr: string }> }) => p.targets.map((t) => t.expr));
    exprs.push(...[...readFileSync(resolve(DOCS, "prometheus/mailer-alerts.yml"), "utf8").matchAll(/expr: (.+)/g)].map((m) => m[1]!));
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(mailer_[a-z_]+|process_[a-z_]+)\b/g)].map((m) => m[1]!)));
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    expect(used.size).toBeGreaterThan(8);
  });
});
