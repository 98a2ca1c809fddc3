// Fresh databases for each measurement (an SQLite file in a temporary directory, or a PostgreSQL
// database mailer_bench_<random> created and dropped here; the server itself is never touched), and
// the mailer.toml the binary runs with.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

export type Dialect = "sqlite" | "postgres";
export const DIALECTS: Dialect[] = ["sqlite", "postgres"];

export const PG_ADMIN_URL = process.env.MAILER_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface BenchDb {
  dialect: Dialect;
  url: string;
  /** A directory for this database's config, lock file and (SQLite) data. */
  dir: string;
  drop(): Promise<void>;
}

let root: string | null = null;
const live = new Set<BenchDb>();

export function benchRoot(): string {
  root ??= mkdtempSync(join(tmpdir(), "mailer-bench-"));
  return root;
}

const randomName = () => `mailer_bench_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = "/" + name;
  return u.toString();
}

export async function pgReachable(): Promise<string | null> {
  const sql = postgres(PG_ADMIN_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

export async function freshDb(dialect: Dialect): Promise<BenchDb> {
  const name = randomName();
  const dir = join(benchRoot(), name);
  mkdirSync(dir, { recursive: true });
  let db: BenchDb;
  if (dialect === "sqlite") {
    db = { dialect, url: `sqlite:${join(dir, "mailer.db")}`, dir, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  } else {
    const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`create database ${name}`);
    } finally {
      await admin.end();
    }
    db = {
      dialect,
      url: withDatabase(PG_ADMIN_URL, name),
      dir,
      async drop() {
        const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
        try {
          await sql.unsafe(`drop database if exists ${name} with (force)`);
        } finally {
          await sql.end();
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  live.add(db);
  const drop = db.drop;
  db.drop = async () => {
    if (!live.delete(db)) return;
    await drop();
  };
  return db;
}

/** Drops every database this run created and still holds (end of run, or Ctrl-C). */
export async function dropAll(): Promise<void> {
  for (const db of [...live]) await db.drop().catch(() => {});
  if (root) rmSync(root, { recursive: true, force: true });
  root = null;
}

export interface ConfigOptions {
  smtp: { host: string; port: number };
  pool?: number;
  emptyQueueSleep?: number;
}

/** Writes <dir>/mailer.toml for this database and returns its path. */
export function writeConfig(db: BenchDb, options: ConfigOptions, name = "mailer.toml"): string {
  const path = join(db.dir, name);
  const toml = [
    "[database]",
    `url = ${JSON.stringify(db.url)}`,
    "",
    "[backend]",
    'type = "smtp"',
    `host = ${JSON.stringify(options.smtp.host)}`,
    `port = ${options.smtp.port}`,
    `pool = ${options.pool ?? 1}`,
    "",
    "[delivery]",
    `empty_queue_sleep = ${options.emptyQueueSleep ?? 30}`,
    "",
    "[lock]",
    `path = ${JSON.stringify(join(db.dir, "send_mail"))}`,
    "use_file_lock = true",
    "",
    "[log]",
    'level = "warn"',
    "",
  ].join("\n");
  writeFileSync(path, toml);
  return path;
}
