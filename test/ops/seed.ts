// A migrated per-test database with rows written straight into the tables (as a plain SQL client
// would), and a config file pointing at it, for driving `status`, `list` and `show` as an operator.
import { join } from "node:path";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import type { LogResult, MessageStatus } from "../../src/db/schema.ts";
import { runMailer, writeConfig, type RunResult } from "../helpers/cli.ts";
import { tempDir, testDatabase, type Dialect } from "../helpers/db.ts";

export interface Seeded {
  db: Database;
  url: string;
  dir: string;
  /** The lock file status reads (lock.path + ".lock"). */
  lockFile: string;
  run(args: string[], env?: Record<string, string>): Promise<RunResult>;
  cleanup(): Promise<void>;
}

export interface SeedOptions {
  /** Rewrites the URL the binary is given (e.g. to add a password the server ignores). */
  configUrl?: (url: string) => string;
  /** More TOML appended to the config file. */
  toml?: string;
}

export async function seededDatabase(dialect: Dialect, options: SeedOptions = {}): Promise<Seeded> {
  const target = await testDatabase(dialect);
  const dbUrl = options.configUrl ? options.configUrl(target.url) : target.url;
  const dir = tempDir("mailer-ops-");
  const db = await openDatabase(target.url);
  await migrateToLatest(db);
  const config = writeConfig(
    dir.path,
    `[database]\nurl = ${JSON.stringify(dbUrl)}\n[lock]\npath = ${JSON.stringify(join(dir.path, "send_mail"))}\n${options.toml ?? ""}`,
  );
  return {
    db,
    url: target.url,
    dir: dir.path,
    lockFile: join(dir.path, "send_mail.lock"),
    run: (args, env) => runMailer([...args, "--config", config], { cwd: dir.path, env }),
    async cleanup() {
      await db.close();
      await target.cleanup();
      dir.cleanup();
    },
  };
}

export const secondsAgo = (s: number) => new Date(Date.now() - s * 1000);

export interface MessageSeed {
  status?: MessageStatus;
  priority?: number;
  ageS?: number;
  /** Seconds from now (negative = in the past). */
  nextAttemptInS?: number;
  retry_count?: number;
  last_error?: string;
  message_id?: string;
  subject?: string;
  envelope_to?: string;
  claimed_by?: string;
  leaseInS?: number;
  data?: string;
}

export async function addMessage(db: Database, m: MessageSeed = {}): Promise<number> {
  const t = db.dialect.toDb;
  const row = await db.kysely
    .insertInto("mailer_message")
    .values({
      message_data: new TextEncoder().encode(m.data ?? `Subject: ${m.subject ?? "hello"}\r\nFrom: app@example.com\r\nTo: ops@example.com\r\n\r\nbody\r\n`),
      message_id: m.message_id ?? `<${Math.random().toString(36).slice(2)}@test>`,
      subject: m.subject ?? "hello",
      envelope_from: "app@example.com",
      envelope_to: m.envelope_to ?? "ops@example.com",
      priority: m.priority ?? 2,
      status: m.status ?? "queued",
      when_added: t(secondsAgo(m.ageS ?? 0)),
      retry_count: m.retry_count ?? 0,
      next_attempt_at: m.nextAttemptInS === undefined ? null : t(secondsAgo(-m.nextAttemptInS)),
      last_error: m.last_error ?? "",
      claimed_by: m.claimed_by ?? null,
      lease_until: m.leaseInS === undefined ? null : t(secondsAgo(-m.leaseInS)),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

export interface LogSeed {
  result: LogResult;
  ageS?: number;
  queue_id?: number | null;
  message_id?: string | null;
  log_message?: string;
  retry_count?: number;
}

export async function addLog(db: Database, l: LogSeed): Promise<void> {
  const t = db.dialect.toDb;
  await db.kysely
    .insertInto("mailer_messagelog")
    .values({
      queue_id: l.queue_id ?? null,
      message_data: null,
      message_id: l.message_id ?? null,
      subject: "hello",
      envelope_from: "app@example.com",
      envelope_to: "ops@example.com",
      when_added: t(secondsAgo((l.ageS ?? 0) + 10)),
      priority: 2,
      retry_count: l.retry_count ?? 0,
      when_attempted: t(secondsAgo(l.ageS ?? 0)),
      result: l.result,
      log_message: l.log_message ?? "",
    })
    .execute();
}
