// Several workers, one PostgreSQL (or MariaDB) queue: the compiled binary as real, concurrent processes.
// Exactly-once under contention, and crash recovery by lease (a worker on another host) or at once
// (a worker on this host). File locks are off: the database claims alone keep workers apart.
import { afterEach, describe, expect } from "bun:test";
import { forEachDialect, testFor } from "../helpers/dialects.ts";
import { summary } from "../helpers/engine.ts";
import { deliveries } from "../helpers/smtp-sink.ts";
import { until } from "../helpers/wait.ts";
import { elsewhere, ownPidNamespace, pgBench, serverBench, type ServerBench, type Worker } from "../helpers/server-bench.ts";

const it = testFor("postgres");
let b: ServerBench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

const queueEmpty = async (bench: ServerBench) =>
  (await bench.db.kysely.selectFrom("mailer_message").select("id").limit(1).execute()).length === 0;

/** `send-mail` again and again, as cron would if it ran back to back, until the queue is empty. */
async function sendMailLoop(bench: ServerBench): Promise<number> {
  let sent = 0;
  while (!(await queueEmpty(bench))) {
    const run = await bench.run(["send-mail"]);
    expect(run.code).toBe(0);
    sent += summary(run.stdout).sent;
  }
  return sent;
}

/** What a runmailer(-pg) reported sending, from its "N sent, …" lines. */
const reportedSent = (w: Worker) =>
  w.stderr.lines.reduce((n, l) => n + Number(/\b(\d+) sent, \d+ deferred/.exec(l)?.[1] ?? 0), 0);

describe("scale-out", () => {
  it("2 runmailer-pg in separate PID namespaces under one host name (containers) drain 2,000 messages: none sent twice", async () => {
    b = await pgBench({
      delivery: { claim_batch: 20, empty_queue_sleep: 60 },
      backend: { pool: 2 },
      lock: { use_file_lock: false },
    });
    // Each worker is PID 1 of its own namespace: by host and PID alone, each takes the other's claims
    // for an earlier life of its own PID, and releases them while they are being sent.
    b.react = () => ({ acceptAfterMs: 2 });
    const bench = b;
    const daemons = [bench.spawn(["runmailer-pg"], ownPidNamespace()), bench.spawn(["runmailer-pg"], ownPidNamespace())];
    // Both listening before the mail comes, so both take part.
    await Promise.all(daemons.map((d) => d.stderr.waitFor(/listening for new mail/, 15_000)));
    // 20 commits: each wakes both workers for a pass, and each pass looks for dead workers' claims.
    for (let i = 0; i < 20; i++) {
      await bench.enqueue(100);
      await Bun.sleep(50);
    }
    await until(() => queueEmpty(bench), "the queue to drain", 90_000);
    await until(async () => bench.sink.received.length >= 2000, "the last sends to be accepted", 10_000);
    const counts = deliveries(b.sink.received);
    expect(counts.size).toBe(2000);
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
    // Their summary lines may still be on their way through the pipes.
    await until(() => daemons.reduce((n, d) => n + reportedSent(d), 0) >= 2000, "both workers' summaries", 10_000);
    expect(daemons.map((d) => reportedSent(d) > 0)).toEqual([true, true]);
    expect(daemons.flatMap((d) => d.stderr.lines.filter((l) => l.includes("claimed by worker(s) that are gone")))).toEqual([]);
  });
});

// MariaDB has no LISTEN/NOTIFY: its long-running worker is runmailer.
forEachDialect((dialect, it) => {
  const server = dialect as "postgres" | "mariadb";
  const worker = server === "postgres" ? "runmailer-pg" : "runmailer";
  describe("scale-out", () => {
    it(`4 workers (2 ${worker}, 2 send-mail) drain 2,000 messages: every Message-ID delivered exactly once`, async () => {
      b = await serverBench(server, {
        delivery: { claim_batch: 20, empty_queue_sleep: 60 },
        backend: { pool: 2 },
        lock: { use_file_lock: false },
      });
      await b.enqueue(2000);
      const bench = b;
      const daemons = [bench.spawn([worker]), bench.spawn([worker])];
      const loops = [sendMailLoop(bench), sendMailLoop(bench)];
      await until(() => queueEmpty(bench), "the queue to drain", 90_000);
      const loopSent = await Promise.all(loops);
      for (const d of daemons) d.proc.kill("SIGTERM");
      expect(await Promise.all(daemons.map((d) => d.proc.exited))).toEqual([0, 0]);

      const counts = deliveries(b.sink.received);
      expect(counts.size).toBe(2000);
      expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
      const perWorker = [...daemons.map(reportedSent), ...loopSent];
      expect(perWorker.reduce((x, y) => x + y, 0)).toBe(2000);
      expect(perWorker.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
      const logs = await b.db.kysely.selectFrom("mailer_messagelog").select(["result", "message_id"]).execute();
      expect(logs.filter((l) => l.result === "success")).toHaveLength(2000);
      expect(new Set(logs.map((l) => l.message_id)).size).toBe(2000);
    });

    it("a worker on another host SIGKILLed mid-batch: the others send its batch once its lease expires", async () => {
      b = await serverBench(server, {
        delivery: { claim_batch: 25, lease: 3, empty_queue_sleep: 0.5 },
        lock: { use_file_lock: false },
      });
      await b.enqueue(100);
      let stalled!: () => void;
      const inFlight = new Promise<void>((r) => (stalled = r));
      b.react = () => (stalled(), "stall");
      const victim = b.spawn(["send-mail"], elsewhere("elsewhere-a"));
      await inFlight;
      victim.proc.kill("SIGKILL");
      await victim.proc.exited;
      const batch = await b.db.kysely
        .selectFrom("mailer_message")
        .select(["message_id", "claimed_by", "lease_until"])
        .where("claimed_by", "like", "elsewhere-a:%")
        .execute();
      expect(batch).toHaveLength(25);
      const leaseEnd = Math.max(...batch.map((r) => new Date(r.lease_until as Date).getTime()));

      b.react = () => undefined;
      const bench = b;
      const survivors = [bench.spawn([worker]), bench.spawn([worker])];
      const once = await bench.run(["send-mail"]);
      const sent = summary(once.stdout).sent;
      await until(() => queueEmpty(bench), "the queue to drain", 30_000);
      for (const s of survivors) s.proc.kill("SIGTERM");
      await Promise.all(survivors.map((s) => s.proc.exited));

      const counts = deliveries(b.sink.received);
      expect(counts.size).toBe(100);
      expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
      // Its batch waited for the lease (a PID on another host means nothing here) …
      for (const row of batch) expect(b.receivedAt.get(row.message_id)!).toBeGreaterThanOrEqual(leaseEnd - 50);
      // … while the rest of the queue did not.
      const others = [...b.receivedAt.entries()].filter(([id]) => !batch.some((r) => r.message_id === id));
      expect(others.some(([, at]) => at < leaseEnd)).toBe(true);
      expect(survivors.concat().every((s) => !s.stderr.lines.some((l) => l.includes("worker(s) that are gone")))).toBe(true);
      expect(sent + survivors.map(reportedSent).reduce((x, y) => x + y, 0)).toBe(100);
    });

    it(`a ${worker} on this host SIGKILLed mid-batch: the next send-mail sends its whole batch without waiting for the lease`, async () => {
      b = await serverBench(server, { delivery: { claim_batch: 10, lease: 300, empty_queue_sleep: 60 }, lock: { use_file_lock: false } });
      await b.enqueue(10);
      let stalled!: () => void;
      const inFlight = new Promise<void>((r) => (stalled = r));
      b.react = () => (stalled(), "stall");
      const victim = b.spawn([worker]);
      await inFlight;
      victim.proc.kill("SIGKILL");
      await victim.proc.exited;
      b.react = () => undefined;
      const run = await b.run(["send-mail"]);
      expect(run.stderr).toContain("released 10 message(s) claimed by worker(s) that are gone");
      expect(summary(run.stdout).sent).toBe(10);
      expect(deliveries(b.sink.received).size).toBe(10);
    });
  });
}, ["postgres", "mariadb"]);
