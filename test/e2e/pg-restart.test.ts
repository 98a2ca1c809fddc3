// PostgreSQL restarted under a running runmailer-pg: it keeps running, retries its LISTEN
// connection with backoff while the server is down, re-LISTENs and runs a pass when it is back,
// and mail committed afterwards goes out at once. On a throwaway cluster of the test's own (never
// the shared server, which other suites use at the same time).
import { afterEach, describe, expect } from "bun:test";
import postgres from "postgres";
import { testFor } from "../helpers/dialects.ts";
import { startPgCluster, type PgCluster } from "../helpers/pg-cluster.ts";
import { pgBench, type ServerBench } from "../helpers/server-bench.ts";

const it = testFor("postgres");
let b: ServerBench | null = null;
let cluster: PgCluster | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
  await cluster?.cleanup();
  cluster = null;
});

describe("runmailer-pg and a database restart", () => {
  it("recovers by itself: backs off while the server is down, re-LISTENs, and later mail is still delivered", async () => {
    cluster = await startPgCluster();
    const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
    await admin`create database mailer`;
    await admin.end();
    b = await pgBench({ delivery: { empty_queue_sleep: 60 } }, cluster.urlFor("mailer"));
    const w = b.spawn(["runmailer-pg", "--log-format", "json", "--log-level", "debug"]);
    await w.stderr.waitFor(/"msg":"pass finished".*"reason":"start"/);
    await b.enqueue(1, "before");
    await b.sink.waitFor(1, 5_000);

    await cluster.stop();
    await w.stderr.waitFor(/LISTEN connection lost/);
    // Down long enough for more than one failed try: the backoff is exercised, not just one retry.
    await w.stderr.waitFor(/reconnecting the LISTEN connection in [\d.]+ s \(attempt 2\)/, 30_000);
    await cluster.start();
    await w.stderr.waitFor(/LISTEN connection restored \(reconnect attempt [2-9]/, 60_000);
    await w.stderr.waitFor(/"msg":"pass finished".*"reason":"reconnect"/);

    await b.enqueue(1, "after");
    await b.sink.waitFor(2, 5_000);
    expect(w.proc.exitCode).toBeNull();
    const waits = w.json().filter((l) => /reconnecting the LISTEN connection/.test(l.msg));
    const seconds = waits.map((l) => Number(/in ([\d.]+) s/.exec(l.msg)![1]));
    expect(seconds.every((s) => s > 0 && s <= 30)).toBe(true);
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
  });
});
