// PostgreSQL or MariaDB restarted under a running worker (a throwaway server: the shared ones are
// never touched). runmailer and runmailer-pg must ride it out by themselves — no restart of the
// worker — and deliver everything, whether the restart hits an idle worker or one in the middle of a
// drain. Also: a database that turns read-only (a failover to a standby) is a "try again" exit 75.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import postgres from "postgres";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { runMailer, spawnMailer, writeConfig } from "../helpers/cli.ts";
import { tempDir } from "../helpers/db.ts";
import { readLines } from "../helpers/lines.ts";
import { startMariadbServer, type MariadbServer } from "../helpers/mariadb-server.ts";
import { startPgCluster, type PgCluster } from "../helpers/pg-cluster.ts";
import { deliveries, startSink, type Sink } from "../helpers/smtp-sink.ts";
import { until } from "../helpers/wait.ts";
import { enqueueMany } from "./support.ts";

let cluster: PgCluster;
let mariadb: MariadbServer;
let counter = 0;
beforeAll(async () => {
  [cluster, mariadb] = await Promise.all([startPgCluster(), startMariadbServer()]);
}, 120_000);
afterAll(async () => {
  await Promise.all([cluster?.cleanup(), mariadb?.cleanup()]);
});

/** One of the throwaway servers, as the tests use it. */
interface Server {
  createDatabase(name: string): Promise<string>;
  restart(): Promise<void>;
}

const servers: Record<"postgres" | "mariadb", () => Server> = {
  postgres: () => ({
    async createDatabase(name) {
      const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
      await admin.unsafe(`create database ${name}`);
      await admin.end();
      return cluster.urlFor(name);
    },
    restart: () => cluster.restart(),
  }),
  mariadb: () => ({
    async createDatabase(name) {
      const admin = await mysql.createConnection({ uri: mariadb.urlFor("mysql") });
      await admin.query(`create database ${name}`);
      await admin.end();
      return mariadb.urlFor(name);
    },
    restart: async () => {
      await mariadb.stop();
      await mariadb.start();
    },
  }),
};

interface Setup {
  dir: string;
  config: string;
  sink: Sink;
  db: Database;
  cleanup(): Promise<void>;
}

let setup: Setup | null = null;
let procs: Array<{ kill(signal?: number | NodeJS.Signals): void }> = [];
afterEach(async () => {
  for (const p of procs) p.kill("SIGKILL");
  procs = [];
  await setup?.cleanup();
  setup = null;
});

async function prepare(server: Server = servers.postgres()): Promise<Setup> {
  const name = `faults_${process.pid}_${++counter}`;
  const url = await server.createDatabase(name);
  const dir = tempDir("mailer-dbrestart-");
  const sink = await startSink();
  const config = writeConfig(
    dir.path,
    `[database]\nurl = "${url}"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\ntimeout = 5\n` +
      `[delivery]\nempty_queue_sleep = 0.3\nclaim_batch = 20\n[lock]\npath = "${dir.path}/send_mail"\n`,
  );
  const migrated = await runMailer(["migrate", "--config", config]);
  if (migrated.code !== 0) throw new Error(`migrate: ${migrated.stderr}`);
  const db = await openDatabase(url);
  return {
    dir: dir.path,
    config,
    sink,
    db,
    async cleanup() {
      await sink.close();
      await db.close().catch(() => {});
      dir.cleanup();
    },
  };
}

/** Messages enqueued through a connection that may have been cut by a restart: retried until it works. */
async function enqueueRetrying(db: Database, count: number, prefix: string): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await enqueueMany(db, count, prefix);
    } catch (error) {
      if (attempt > 50) throw error;
      await Bun.sleep(100);
    }
  }
}

/** True once the queue table is empty (false while our own connection is being re-established). */
const queueEmpty = (db: Database) => async () => {
  try {
    return (await db.kysely.selectFrom("mailer_message").select("id").execute()).length === 0;
  } catch {
    return false;
  }
};

// MariaDB has no LISTEN/NOTIFY, so no runmailer-pg.
for (const [kind, command] of [["postgres", "runmailer"], ["postgres", "runmailer-pg"], ["mariadb", "runmailer"]] as const) {
  describe(`${kind}: ${command}`, () => {
    test("a restart while it is idle and another in the middle of a drain: it recovers by itself, nothing lost", async () => {
      const server = servers[kind]();
      setup = await prepare(server);
      const { sink, db } = setup;
      const proc = spawnMailer([command, "--config", setup.config, "--log-level", "debug"], { cwd: setup.dir });
      procs.push(proc);
      const stderr = readLines(proc.stderr as ReadableStream<Uint8Array>);
      try {
        const ids = await enqueueRetrying(db, 5, "before");
        await until(queueEmpty(db), "the first messages to be sent and recorded", 30_000);

        // Idle worker: the server goes away and comes back between passes.
        await server.restart();
        ids.push(...(await enqueueRetrying(db, 5, "after-idle-restart")));
        await sink.waitFor(10, 30_000);

        // Busy worker: restart while a drain is under way (sends in flight, claims held).
        ids.push(...(await enqueueRetrying(db, 300, "drain")));
        await until(() => sink.received.length >= 40, "the drain to be under way", 30_000);
        await server.restart();
        await until(() => ids.every((id) => deliveries(sink.received).has(id)), "every message to be delivered", 60_000);
        await until(queueEmpty(db), "the queue to be empty", 60_000);
        expect(proc.exitCode).toBeNull();
      } catch (error) {
        // The worker's own account of what happened.
        const lines = stderr.lines.filter((l) => !l.includes("nodemailer")).slice(-40);
        throw new Error(`${(error as Error).message}\n--- ${command} stderr (last lines):\n${lines.join("\n")}`);
      }

      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      await stderr.done;
      // At least once: what a batch sent before the restart cut its recording off may go twice,
      // never more than one claimed batch.
      const duplicates = [...deliveries(sink.received).values()].reduce((n, c) => n + c - 1, 0);
      expect(duplicates).toBeLessThanOrEqual(20);
      expect(stderr.lines.some((l) => /unavailable|retrying|reconnect|failed/i.test(l))).toBe(true);
    }, 180_000);
  });
}

test("a database that turns read-only (failover to a standby): intake and send-mail exit 75, nothing lost", async () => {
  setup = await prepare();
  await enqueueMany(setup.db, 2, "kept");
  const name = new URL(setup.db.url).pathname.slice(1);
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`alter database ${name} set default_transaction_read_only = on`);
  try {
    const intake = await runMailer(["queue", "--config", setup.config, "--from", "a@example.com", "--to", "b@example.com", "--subject", "x", "--text", "y"]);
    expect(intake.code).toBe(75);
    expect(intake.stderr).toMatch(/^mailer: database .* unavailable: .*read-only/m);
    const sending = await runMailer(["send-mail", "--config", setup.config], { cwd: setup.dir });
    expect(sending.code).toBe(75);
    expect(setup.sink.received).toHaveLength(0);
  } finally {
    await admin.unsafe(`alter database ${name} set default_transaction_read_only = off`);
    await admin.end();
  }
  const sent = await runMailer(["send-mail", "--config", setup.config], { cwd: setup.dir });
  expect(sent.stdout).toMatch(/^2 sent/);
}, 60_000);
