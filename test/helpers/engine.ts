// A delivery-engine test bench: a migrated database of either dialect, an SMTP sink, a config file
// pointing the binary at both, and direct access to the tables for enqueueing and asserting.
import { join } from "node:path";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { enqueueMessages } from "../../src/queue/enqueue.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";
import type { Priority } from "../../src/queue/priority.ts";
import { runMailer, spawnMailer, writeConfig, type RunResult } from "./cli.ts";
import { tempDir, testDatabase, type Dialect } from "./db.ts";
import { readLines, type LineReader } from "./lines.ts";
import { startSink, type Sink, type SinkOptions } from "./smtp-sink.ts";

export type TomlValue = string | number | boolean;
const SECTION_NAMES = ["backend", "delivery", "retry", "lock", "queue", "limits"] as const;
export type Sections = Partial<Record<"top" | (typeof SECTION_NAMES)[number], Record<string, TomlValue>>> & {
  /** [limits.domains."NAME"] tables. */
  domainLimits?: Record<string, Record<string, TomlValue>>;
};

/** Where a spawned worker runs: another binary name and arguments in front (elsewhere() in server-bench.ts). */
export interface SpawnVia {
  binary?: string;
  prefix?: string[];
}

export interface MessageSpec {
  to?: string | string[];
  from?: string;
  subject?: string;
  priority?: Priority;
  body?: string;
}

export interface Bench {
  dir: string;
  url: string;
  db: Database;
  sink: Sink;
  configPath: string;
  /** Rewrites mailer.toml: the base settings plus `extra`; the workers reach the database at `url`
   * (a proxy in front of it) when given. */
  configure(extra?: Sections, url?: string): void;
  enqueue(spec?: MessageSpec): Promise<number>;
  messages(): Promise<Array<Record<string, any>>>;
  logs(): Promise<Array<Record<string, any>>>;
  run(args: string[], env?: Record<string, string>): Promise<RunResult>;
  /** Starts the binary in the background; cleanup() SIGKILLs it if it is still running. */
  spawn(args: string[], via?: SpawnVia): ReturnType<typeof spawnMailer>;
  /** spawn(), with its stderr read line by line. */
  start(args: string[], via?: SpawnVia): { proc: ReturnType<typeof spawnMailer>; stderr: LineReader };
  /** SIGKILLs every spawned process still running, then closes the sink and drops the database. */
  cleanup(): Promise<void>;
}

const tomlValue = (v: TomlValue) => (typeof v === "string" ? JSON.stringify(v) : String(v));

export async function bench(dialect: Dialect, extra: Sections = {}, sinkOptions: SinkOptions = {}): Promise<Bench> {
  const dir = tempDir("mailer-engine-");
  const database = await testDatabase(dialect);
  const db = await openDatabase(database.url);
  await migrateToLatest(db);
  const sink = await startSink(sinkOptions);
  let counter = 0;
  const procs: Array<ReturnType<typeof spawnMailer>> = [];
  const b: Bench = {
    dir: dir.path,
    url: database.url,
    db,
    sink,
    configPath: join(dir.path, "mailer.toml"),
    configure(more: Sections = {}, url = database.url) {
      const sections: Sections = {
        top: { ...more.top },
        backend: { type: "smtp", host: sink.host, port: sink.port, timeout: 2, ...more.backend },
        delivery: { ...more.delivery },
        retry: { ...more.retry },
        lock: { path: join(dir.path, "send_mail"), ...more.lock },
        queue: { ...more.queue },
        limits: { ...more.limits },
      };
      const lines = Object.entries(sections.top ?? {}).map(([k, v]) => `${k} = ${tomlValue(v)}`);
      lines.push("[database]", `url = ${JSON.stringify(url)}`);
      for (const name of SECTION_NAMES) {
        lines.push(`[${name}]`, ...Object.entries(sections[name] ?? {}).map(([k, v]) => `${k} = ${tomlValue(v)}`));
      }
      for (const [domain, table] of Object.entries(more.domainLimits ?? {})) {
        lines.push(`[limits.domains.${JSON.stringify(domain)}]`, ...Object.entries(table).map(([k, v]) => `${k} = ${tomlValue(v)}`));
      }
      writeConfig(dir.path, lines.join("\n") + "\n");
    },
    async enqueue(spec: MessageSpec = {}) {
      counter++;
      const to = Array.isArray(spec.to) ? spec.to : [spec.to ?? "rcpt@example.com"];
      const text =
        `From: ${spec.from ?? "sender@example.com"}\r\nTo: ${to.join(", ")}\r\n` +
        `Subject: ${spec.subject ?? `message ${counter}`}\r\n\r\n${spec.body ?? `body ${counter}`}\r\n`;
      const prepared = prepareMessage(new TextEncoder().encode(text), spec.priority ? { priority: spec.priority } : {});
      const [outcome] = await enqueueMessages(db, [prepared]);
      return outcome!.id!;
    },
    messages: () => db.kysely.selectFrom("mailer_message").selectAll().orderBy("id").execute(),
    logs: () => db.kysely.selectFrom("mailer_messagelog").selectAll().orderBy("id").execute(),
    run: (args, env = {}) => runMailer([...args, "--config", b.configPath], { cwd: dir.path, env }),
    spawn(args, via = {}) {
      const proc = spawnMailer([...(via.prefix ?? []), ...args, "--config", b.configPath], { cwd: dir.path, binary: via.binary });
      procs.push(proc);
      return proc;
    },
    start(args, via) {
      const proc = b.spawn(args, via);
      return { proc, stderr: readLines(proc.stderr as ReadableStream<Uint8Array>) };
    },
    async cleanup() {
      const running = procs.splice(0).filter((p) => p.exitCode === null && p.signalCode === null);
      for (const p of running) p.kill("SIGKILL");
      await Promise.all(running.map((p) => p.exited));
      await sink.close();
      await db.close();
      await database.cleanup();
      dir.cleanup();
    },
  };
  b.configure(extra);
  return b;
}

/** The summary line send-mail prints, parsed. */
export function summary(stdout: string): { sent: number; deferred: number; failed: number } {
  const match = /^(\d+) sent, (\d+) deferred, (\d+) failed in [\d.]+ s$/m.exec(stdout);
  if (!match) throw new Error(`no summary line in ${JSON.stringify(stdout)}`);
  return { sent: Number(match[1]), deferred: Number(match[2]), failed: Number(match[3]) };
}

/** The next transaction begun on `db` fails as a deadlock's victim's does (the dialect's own code);
 * the ones after it run for real. Returns how many have been begun. test/foundation/deadlock.test.ts
 * makes real deadlocks on both servers and checks their errors carry these codes. */
export function firstTransactionADeadlockVictim(db: Database, dialect: Dialect): { readonly begun: number } {
  const kysely = db.kysely;
  const transaction = kysely.transaction.bind(kysely);
  const counter = { begun: 0 };
  kysely.transaction = (() => {
    const builder = transaction();
    if (counter.begun++ > 0) return builder;
    const code = dialect === "postgres" ? "40P01" : "ER_LOCK_DEADLOCK";
    return { execute: async () => Promise.reject(Object.assign(new Error("deadlock detected"), { code })) };
  }) as typeof kysely.transaction;
  return counter;
}
