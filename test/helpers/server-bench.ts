// The bench for runmailer-pg and multi-worker tests: a migrated PostgreSQL or MariaDB database (a
// fresh one on the shared server, or one on a throwaway cluster), an SMTP sink that notes when each message
// arrived, a mailer.toml, bulk enqueue, and worker subprocesses of the compiled binary that are
// always killed at cleanup.
import { join } from "node:path";
import mysql from "mysql2/promise";
import postgres from "postgres";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { enqueueMessages } from "../../src/queue/enqueue.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";
import { BINARY, runMailer, spawnMailer, writeConfig, type RunResult } from "./cli.ts";
import { createMariadbDatabase, createPgDatabase, tempDir } from "./db.ts";
import { readLines, type LineReader } from "./lines.ts";
import { startSink, type Reaction, type Received, type Sink } from "./smtp-sink.ts";

export type Section = Record<string, string | number | boolean>;
export type Sections = Partial<Record<"backend" | "delivery" | "lock", Section>>;

export interface Worker {
  proc: ReturnType<typeof spawnMailer>;
  stderr: LineReader;
  stdout: LineReader;
  /** Parsed --log-format json lines of stderr (others skipped). */
  json(): Array<Record<string, any>>;
}

export interface ServerBench {
  dir: string;
  url: string;
  db: Database;
  sink: Sink;
  /** Date.now() when the sink accepted each Message-ID (the last time, if more than once). */
  receivedAt: Map<string, number>;
  /** Decides each message at the end of DATA (default: accept). */
  react: (message: Received) => Reaction;
  configPath: string;
  configure(sections?: Sections, url?: string): void;
  /** Bulk enqueue through the library path (one transaction per 500). Returns the ids. */
  enqueue(count: number, prefix?: string): Promise<number[]>;
  /** `count` plain-SQL INSERTs committed in ONE transaction (one notification per row). */
  insertInOneTransaction(count: number, prefix?: string): Promise<void>;
  spawn(args: string[], options?: { binary?: string; prefix?: string[] }): Worker;
  run(args: string[]): Promise<RunResult>;
  cleanup(): Promise<void>;
}

let counter = 0;
const raw = (subject: string) =>
  new TextEncoder().encode(`From: app@example.com\r\nTo: rcpt@example.com\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`);

/** `url`: an existing, empty database (e.g. on a throwaway cluster); else one is created on the shared server. */
export const pgBench = (sections: Sections = {}, url?: string) => serverBench("postgres", sections, url);

/** The same bench on a database server of either kind. */
export async function serverBench(server: "postgres" | "mariadb", sections: Sections = {}, url?: string): Promise<ServerBench> {
  const dir = tempDir(`mailer-${server}-`);
  const created = url ? null : server === "postgres" ? await createPgDatabase() : await createMariadbDatabase();
  const dbUrl = url ?? created!.url;
  const db = await openDatabase(dbUrl, { maxConnections: 2 });
  await migrateToLatest(db);
  const sink = await startSink();
  const workers: Worker[] = [];
  const b: ServerBench = {
    dir: dir.path,
    url: dbUrl,
    db,
    sink,
    receivedAt: new Map(),
    react: () => undefined,
    configPath: join(dir.path, "mailer.toml"),
    configure(more: Sections = {}, configUrl = dbUrl) {
      const all: Required<Sections> = {
        backend: { type: "smtp", host: sink.host, port: sink.port, timeout: 5, ...more.backend },
        delivery: { ...more.delivery },
        lock: { path: join(dir.path, "send_mail"), ...more.lock },
      };
      const lines = ["[database]", `url = ${JSON.stringify(configUrl)}`];
      for (const [name, values] of Object.entries(all)) {
        lines.push(`[${name}]`, ...Object.entries(values).map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : v}`));
      }
      writeConfig(dir.path, lines.join("\n") + "\n");
    },
    async enqueue(count, prefix = "m") {
      const messages = Array.from({ length: count }, () => prepareMessage(raw(`${prefix}-${++counter}`)));
      const outcomes = await enqueueMessages(db, messages, { batchSize: 500 });
      return outcomes.map((o) => o.id!);
    },
    async insertInOneTransaction(count, prefix = "tx") {
      const rows = Array.from({ length: count }, () => {
        const subject = `${prefix}-${++counter}`;
        return [Buffer.from(raw(subject)), `<${subject}.${process.pid}@test>`, subject, "app@example.com", "rcpt@example.com"];
      });
      const insert = "insert into mailer_message (message_data, message_id, subject, envelope_from, envelope_to) values ";
      if (server === "mariadb") {
        const connection = await mysql.createConnection({ uri: dbUrl });
        try {
          await connection.beginTransaction();
          for (const row of rows) await connection.execute(insert + "(?, ?, ?, ?, ?)", row);
          await connection.commit();
        } finally {
          await connection.end();
        }
        return;
      }
      const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.begin(async (tx) => {
          for (const row of rows) await tx.unsafe(insert + "($1, $2, $3, $4, $5)", row as never);
        });
      } finally {
        await sql.end();
      }
    },
    spawn(args, options = {}) {
      const proc = spawnMailer([...(options.prefix ?? []), ...args, "--config", b.configPath], {
        cwd: dir.path,
        binary: options.binary,
      });
      const stderr = readLines(proc.stderr as ReadableStream<Uint8Array>);
      const worker: Worker = {
        proc,
        stderr,
        stdout: readLines(proc.stdout as ReadableStream<Uint8Array>),
        json: () => stderr.lines.flatMap((l) => (l.startsWith("{") ? [JSON.parse(l)] : [])),
      };
      workers.push(worker);
      return worker;
    },
    run: (args) => runMailer([...args, "--config", b.configPath], { cwd: dir.path }),
    async cleanup() {
      for (const w of workers) w.proc.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.proc.exited));
      await sink.close();
      await db.close();
      await created?.drop();
      dir.cleanup();
    },
  };
  sink.onMessage = (message) => {
    const reaction = b.react(message);
    if (reaction === undefined && message.messageId) b.receivedAt.set(message.messageId, Date.now());
    return reaction;
  };
  b.configure(sections);
  return b;
}

/** A worker in a container of its own that shares this host's name (host networking, a shared
 * hostname, Kubernetes hostNetwork pods): its own PID namespace, where it is PID 1 (as is every
 * other such worker). --kill-child: killing unshare kills the worker too. */
export const ownPidNamespace = () => ({
  binary: "unshare",
  prefix: ["--pid", "--fork", "--mount-proc", "--kill-child", BINARY],
});

/** A worker on "another host": its own UTS namespace with another hostname, so this host's workers
 * cannot judge its PID and must wait for its lease (needs root, as CI and the dev machines run). */
export const elsewhere = (host: string) => ({
  binary: "unshare",
  prefix: ["-u", "sh", "-c", 'hostname "$0" && exec "$@"', host, BINARY],
});
