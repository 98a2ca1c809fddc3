// A running-worker bench for the ops-runtime tests: a temporary directory with a migrated SQLite
// queue, two SMTP sinks (to switch between), a mailer.toml written from parts, and the binary
// started as a supervisor would start it, its stderr read line by line.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { enqueueMessages } from "../../src/queue/enqueue.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";
import { spawnMailer } from "../helpers/cli.ts";
import { tempDir } from "../helpers/db.ts";
import { readLines, type LineReader } from "../helpers/lines.ts";
import { startSink, type Sink, type SinkOptions } from "../helpers/smtp-sink.ts";
import { until } from "../helpers/wait.ts";

export interface Queue {
  url: string;
  db: Database;
  enqueue(subject: string, count?: number): Promise<void>;
  statuses(): Promise<string[]>;
}

export interface Worker {
  proc: ReturnType<typeof spawnMailer>;
  stderr: LineReader;
}

export interface RuntimeBench {
  dir: string;
  configPath: string;
  sinks: [Sink, Sink];
  queue(name: string): Promise<Queue>;
  /** Writes mailer.toml; `atomic` saves the way editors do (a temporary file renamed over it). */
  write(text: string, atomic?: boolean): void;
  start(args: string[], env?: Record<string, string>): Worker;
  cleanup(): Promise<void>;
}

export async function runtimeBench(sinkOptions: SinkOptions = {}): Promise<RuntimeBench> {
  const dir = tempDir("mailer-ops-runtime-");
  const sinks: [Sink, Sink] = [await startSink(sinkOptions), await startSink(sinkOptions)];
  const queues: Database[] = [];
  const workers: Worker[] = [];
  const configPath = join(dir.path, "mailer.toml");
  return {
    dir: dir.path,
    configPath,
    sinks,
    async queue(name) {
      const url = `sqlite:${join(dir.path, `${name}.db`)}`;
      const db = await openDatabase(url);
      await migrateToLatest(db);
      queues.push(db);
      return {
        url,
        db,
        async enqueue(subject, count = 1) {
          const prepared = Array.from({ length: count }, (_, i) =>
            prepareMessage(
              new TextEncoder().encode(
                `From: app@example.com\r\nTo: rcpt@example.com\r\nSubject: ${subject}${count > 1 ? ` ${i}` : ""}\r\n\r\nbody\r\n`,
              ),
            ),
          );
          await enqueueMessages(db, prepared);
        },
        statuses: async () =>
          (await db.kysely.selectFrom("mailer_message").select("status").orderBy("id").execute()).map((r) => r.status),
      };
    },
    write(text, atomic = false) {
      if (!atomic) return writeFileSync(configPath, text);
      const temporary = join(dir.path, ".mailer.toml.swp");
      writeFileSync(temporary, text);
      renameSync(temporary, configPath);
    },
    start(args, env = {}) {
      const proc = spawnMailer([...args, "--config", configPath], { cwd: dir.path, env });
      const worker = { proc, stderr: readLines(proc.stderr as ReadableStream<Uint8Array>) };
      workers.push(worker);
      return worker;
    },
    async cleanup() {
      for (const w of workers) w.proc.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.proc.exited));
      for (const sink of sinks) await sink.close();
      for (const db of queues) await db.close();
      dir.cleanup();
    },
  };
}

/** mailer.toml for a worker sending `url`'s queue to `sink`, polling every 0.2 s. */
export function toml(url: string, sink: Sink, extra = ""): string {
  return [
    "[database]",
    `url = ${JSON.stringify(url)}`,
    "[backend]",
    'type = "smtp"',
    `host = "${sink.host}"`,
    `port = ${sink.port}`,
    "timeout = 2",
    extra,
    "[delivery]",
    "empty_queue_sleep = 0.2",
    "[lock]",
    'path = "./send_mail"',
    "",
  ].join("\n");
}

/** A pass applies the config it started with, and one may be under way when a reload lands. A
 * runmailer at debug level logs "sleeping for" after each idle pass: the pass between the first and
 * the second such line after `marker` began after it, so from then on the new config is in force. */
export async function nextPassAfter(worker: Worker, marker: RegExp): Promise<void> {
  const lines = worker.stderr.lines;
  await worker.stderr.waitFor(marker);
  const at = lines.findIndex((l) => marker.test(l));
  await until(() => lines.slice(at + 1).filter((l) => l.includes("sleeping for")).length >= 2, `a whole pass after ${marker}`);
}
