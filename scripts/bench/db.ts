// Fresh databases for each measurement (an SQLite file in a temporary directory, or a database
// mailer_bench_<random> created and dropped here on the PostgreSQL or MariaDB server; the server
// itself is never touched), and the mailer.toml the binary runs with.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import mysql from "mysql2/promise";
import postgres from "postgres";
import { openDatabase } from "../../src/db/connect.ts";
import { maskUrl } from "../../src/db/db-url.ts";
import type { Schema } from "../../src/db/schema.ts";

export type Dialect = "sqlite" | "postgres" | "mariadb";
export const DIALECTS: Dialect[] = ["sqlite", "postgres", "mariadb"];
/** For people: the table's columns and the notes. */
export const DIALECT_NAMES: Record<Dialect, string> = { sqlite: "SQLite", postgres: "PostgreSQL", mariadb: "MariaDB" };

export type ServerDialect = Exclude<Dialect, "sqlite">;

/** A database server the bench makes its databases on. */
interface Server {
  /** An account that may create and drop databases. */
  url: string;
  /** Runs one statement as that account on a connection of its own. */
  admin(statement: string, connectSeconds?: number): Promise<void>;
  /** DROP DATABASE, ending sessions still connected where the server can. */
  dropStatement(name: string): string;
}

const SERVERS: Record<ServerDialect, Server> = {
  postgres: {
    url: process.env.MAILER_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    async admin(statement, connectSeconds = 30) {
      const sql = postgres(this.url, { max: 1, connect_timeout: connectSeconds, onnotice: () => {} });
      try {
        await sql.unsafe(statement);
      } finally {
        await sql.end({ timeout: 1 }).catch(() => {});
      }
    },
    dropStatement: (name) => `drop database if exists ${name} with (force)`,
  },
  mariadb: {
    url: process.env.MAILER_BENCH_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/mysql",
    async admin(statement, connectSeconds = 30) {
      const connection = await mysql.createConnection({ uri: this.url, connectTimeout: connectSeconds * 1000 });
      try {
        await connection.query(statement);
      } finally {
        await connection.end().catch(() => {});
      }
    },
    // No FORCE: by then the processes that used it have exited.
    dropStatement: (name) => `drop database if exists ${name}`,
  },
};

export const isServer = (dialect: Dialect): dialect is ServerDialect => dialect !== "sqlite";

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

/** Why the dialect's server cannot be reached, or null. A short wait: an absent server is skipped. */
export async function serverProblem(dialect: ServerDialect): Promise<string | null> {
  const server = SERVERS[dialect];
  try {
    await server.admin("select 1", 3);
    return null;
  } catch (error) {
    return `${DIALECT_NAMES[dialect]} at ${maskUrl(server.url)} unreachable (${(error as Error).message || String(error)})`;
  }
}

export async function freshDb(dialect: Dialect): Promise<BenchDb> {
  const name = randomName();
  const dir = join(benchRoot(), name);
  mkdirSync(dir, { recursive: true });
  let db: BenchDb;
  if (!isServer(dialect)) {
    db = { dialect, url: `sqlite:${join(dir, "mailer.db")}`, dir, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  } else {
    const server = SERVERS[dialect];
    await server.admin(`create database ${name}`);
    db = {
      dialect,
      url: withDatabase(server.url, name),
      dir,
      async drop() {
        await server.admin(server.dropStatement(name));
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

/** The database opened as mailer opens it (src/db/connect.ts), for the statements a step runs
 * itself: one Kysely whatever the dialect. */
export async function usingDatabase<T>(db: BenchDb, use: (kysely: Kysely<Schema>) => Promise<T>): Promise<T> {
  const database = await openDatabase(db.url, { maxConnections: 1 });
  try {
    return await use(database.kysely);
  } finally {
    await database.close();
  }
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
