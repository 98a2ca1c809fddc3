// `mailer runmailer-pg` as systemd runs it: the compiled binary against real PostgreSQL and a real
// SMTP sink. The beat is set far away (60 s) wherever a test proves that NOTIFY, not polling,
// delivered the mail. Passes are counted from the child's own debug log (--log-format json).
import { afterEach, describe, expect } from "bun:test";
import postgres from "postgres";
import { testFor } from "../helpers/dialects.ts";
import { runMailer, writeConfig } from "../helpers/cli.ts";
import { PG_URL, tempDir, testDatabase } from "../helpers/db.ts";
import { startNotifyDroppingProxy, type NotifyDroppingProxy } from "../pg/pg-proxy.ts";
import { until } from "../helpers/wait.ts";
import { pgBench, type ServerBench, type Worker } from "../helpers/server-bench.ts";

const it = testFor("postgres");
const DEBUG = ["--log-format", "json", "--log-level", "debug"];

let b: ServerBench | null = null;
let proxy: NotifyDroppingProxy | null = null;
const finally_: Array<() => Promise<unknown>> = [];
/** Clients a test opened on the bench's database: ended before the bench drops it. */
const clients: postgres.Sql[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((sql) => sql.end().catch(() => {})));
  await b?.cleanup();
  b = null;
  await proxy?.close();
  proxy = null;
  for (const f of finally_.splice(0)) await f().catch(() => {});
});

/** A plain client on the bench's database, for SQL the test runs itself. */
function sqlOn(bench: ServerBench): postgres.Sql {
  const sql = postgres(bench.url, { max: 1, onnotice: () => {} });
  clients.push(sql);
  return sql;
}

const passes = (w: Worker, reason?: string) =>
  w.json().filter((l) => l.msg === "pass starting" && (reason === undefined || l.reason === reason));
const finished = (reason: string) => new RegExp(`"msg":"pass finished".*"reason":"${reason}"`);

describe("runmailer-pg", () => {
  it("installs the trigger, sends the backlog at start, then mail as it is committed; SIGTERM exits 0", async () => {
    b = await pgBench({ delivery: { empty_queue_sleep: 60 } });
    await b.enqueue(3, "backlog");
    const w = b.spawn(["runmailer-pg", ...DEBUG]);
    await b.sink.waitFor(3);
    await w.stderr.waitFor(finished("start"));
    await b.enqueue(1, "live");
    await b.sink.waitFor(4, 5_000);
    expect(passes(w, "notify").length).toBeGreaterThanOrEqual(1);
    expect(passes(w, "beat")).toHaveLength(0);
    const triggers = await sqlOn(b)`select tgname from pg_trigger where tgrelid = 'mailer_message'::regclass and not tgisinternal`;
    expect(triggers.map((t) => t.tgname)).toEqual(["mailer_message_notify_trigger"]);
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
  });

  it("1,000 inserts committed in one transaction cause one pass, not 1,000", async () => {
    b = await pgBench({ delivery: { empty_queue_sleep: 60 }, backend: { pool: 2 } });
    const w = b.spawn(["runmailer-pg", ...DEBUG]);
    await w.stderr.waitFor(finished("start"));
    await b.insertInOneTransaction(1000);
    await b.sink.waitFor(1000, 60_000);
    await w.stderr.waitFor(finished("notify"));
    // A marker committed afterwards: notifications arrive in order on one connection, so once its
    // pass has started, every notification of the big transaction has been handled.
    await b.insertInOneTransaction(1, "marker");
    await b.sink.waitFor(1001);
    await until(() => passes(w, "notify").length >= 2, "the marker's pass");
    expect(passes(w).map((p) => p.reason)).toEqual(["start", "notify", "notify"]);
  });

  it("its LISTEN backend terminated: reconnects, runs a pass, and later mail still goes out at once", async () => {
    b = await pgBench({ delivery: { empty_queue_sleep: 60 } });
    const w = b.spawn(["runmailer-pg", ...DEBUG]);
    await w.stderr.waitFor(finished("start"));
    const killed = await sqlOn(b)`
      select pg_terminate_backend(pid) as ok from pg_stat_activity
      where datname = current_database() and application_name = 'mailer-listen'`;
    expect(killed.map((k) => k.ok)).toEqual([true]);
    await w.stderr.waitFor(/LISTEN connection lost/);
    await w.stderr.waitFor(/LISTEN connection restored/);
    await w.stderr.waitFor(finished("reconnect"));
    await b.enqueue(1, "after");
    await b.sink.waitFor(1, 5_000);
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
  });

  it("when no notification can arrive (a transaction-mode pooler), says so and falls back to polling", async () => {
    b = await pgBench({ delivery: { empty_queue_sleep: 0.5 } });
    const url = new URL(b.url);
    proxy = await startNotifyDroppingProxy(url.hostname, Number(url.port || 5432));
    url.port = String(proxy.port);
    b.configure({ delivery: { empty_queue_sleep: 0.5 } }, url.toString());
    const w = b.spawn(["runmailer-pg", ...DEBUG]);
    const line = await w.stderr.waitFor(/LISTEN\/NOTIFY cannot work/, 15_000);
    expect(JSON.parse(line).level).toBe("error");
    expect(line).toContain("transaction-mode pooler");
    expect(line).toContain("Falling back to polling");
    await b.enqueue(1, "polled");
    await b.sink.waitFor(1, 10_000);
    expect(passes(w, "notify")).toHaveLength(0);
    expect(proxy.dropped).toBeGreaterThan(0);
  });

  it("keeps trying LISTEN while polling, and returns to it once notifications arrive again", async () => {
    b = await pgBench({ delivery: { empty_queue_sleep: 60 } });
    const url = new URL(b.url);
    proxy = await startNotifyDroppingProxy(url.hostname, Number(url.port || 5432));
    url.port = String(proxy.port);
    b.configure({ delivery: { empty_queue_sleep: 60 } }, url.toString());
    const w = b.spawn(["runmailer-pg", ...DEBUG]);
    await w.stderr.waitFor(/LISTEN\/NOTIFY cannot work/, 15_000);
    await w.stderr.waitFor(/trying LISTEN again in/);
    // What a slow test notification after a restart looks like, then the server answering in time.
    proxy.dropping = false;
    const back = await w.stderr.waitFor(/LISTEN\/NOTIFY works again/, 20_000);
    expect(JSON.parse(back).level).toBe("info");
    await w.stderr.waitFor(finished("reconnect"));
    // With a 60 s beat, only the notification can deliver this within seconds.
    await b.enqueue(1, "heard");
    await b.sink.waitFor(1, 5_000);
    expect(passes(w, "notify").length).toBeGreaterThanOrEqual(1);
    expect(passes(w, "beat")).toHaveLength(0);
  });

  it("SIGTERM during a send: the send finishes and is recorded, the rest released, exit 0", async () => {
    b = await pgBench({ delivery: { empty_queue_sleep: 60 }, backend: { timeout: 1 } });
    await b.enqueue(2, "sig");
    let stalled!: () => void;
    const inFlight = new Promise<void>((r) => (stalled = r));
    b.react = () => (stalled(), "stall");
    const w = b.spawn(["runmailer-pg"]);
    await inFlight;
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
    const rows = await b.db.kysely.selectFrom("mailer_message").select(["status", "claimed_by"]).orderBy("id").execute();
    expect(rows).toEqual([
      { status: "deferred", claimed_by: null },
      { status: "queued", claimed_by: null },
    ]);
  });

  it("refuses a database without LISTEN/NOTIFY (SQLite) with exit 78", async () => {
    const dir = tempDir();
    finally_.push(async () => dir.cleanup());
    const config = writeConfig(dir.path, `[database]\nurl = "sqlite:${dir.path}/m.db"\n`);
    const run = await runMailer(["runmailer-pg", "--config", config], { cwd: dir.path });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("runmailer-pg needs PostgreSQL (LISTEN/NOTIFY)");
  });

  testFor("mariadb")("refuses a MariaDB database (no LISTEN/NOTIFY) with exit 78, naming runmailer", async () => {
    const database = await testDatabase("mariadb");
    finally_.push(() => database.cleanup());
    const dir = tempDir();
    finally_.push(async () => dir.cleanup());
    const config = writeConfig(dir.path, `[database]\nurl = "${database.url}"\n`);
    expect((await runMailer(["migrate", "--config", config])).code).toBe(0);
    const run = await runMailer(["runmailer-pg", "--config", config], { cwd: dir.path });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("runmailer-pg needs PostgreSQL (LISTEN/NOTIFY), but database.url is mysql://");
    expect(run.stderr).toContain("use `mailer runmailer`");
  });

  it("a role that may not create the trigger exits 78 saying what is needed; once installed, that role runs", async () => {
    b = await pgBench({ delivery: { empty_queue_sleep: 60 } });
    const role = `mailer_worker_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = sqlOn(b);
    await admin.unsafe(`create role ${role} login`);
    // Runs after afterEach has dropped the database, so the role owns nothing any more.
    finally_.push(async () => {
      const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop role if exists ${role}`).finally(() => sql.end());
    });
    await admin.unsafe(`grant select, insert, update, delete on all tables in schema public to ${role}`);
    await admin.unsafe(`grant usage, select on all sequences in schema public to ${role}`);
    const roleUrl = new URL(b.url);
    roleUrl.username = role;
    b.configure({ delivery: { empty_queue_sleep: 60 } }, roleUrl.toString());
    const refused = await b.run(["runmailer-pg"]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain(`role "${role}" may not create it`);
    expect(refused.stderr).toContain("docs/deployment.md");

    b.configure({ delivery: { empty_queue_sleep: 60 } }); // the owner, once
    const owner = b.spawn(["runmailer-pg", ...DEBUG]);
    await owner.stderr.waitFor(finished("start"));
    owner.proc.kill("SIGTERM");
    expect(await owner.proc.exited).toBe(0);

    b.configure({ delivery: { empty_queue_sleep: 60 } }, roleUrl.toString());
    const w = b.spawn(["runmailer-pg", ...DEBUG]);
    await w.stderr.waitFor(finished("start"));
    await b.enqueue(1, "as-worker-role");
    await b.sink.waitFor(1, 5_000);
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
  });
});
