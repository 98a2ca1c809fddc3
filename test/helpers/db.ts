// Per-test databases: a temporary SQLite file, or a PostgreSQL or MariaDB database created and dropped
// for the test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { sql } from "kysely";
import postgres from "postgres";
import { openDatabase, type Database } from "../../src/db/connect.ts";

export const PG_URL = process.env.MAILER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** A MariaDB account that may create and drop databases. */
export const MARIADB_URL = process.env.MAILER_TEST_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/mysql";

export function tempDir(prefix = "mailer-test-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

let reachable: boolean | null = null;

/** Asked once per test file; the preload decides what an unreachable server means (skip, or fail in CI). */
export async function pgReachable(): Promise<boolean> {
  if (reachable !== null) return reachable;
  const sql = postgres(PG_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    reachable = true;
  } catch {
    reachable = false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
  return reachable;
}

let mariadbUp: boolean | null = null;

export async function mariadbReachable(): Promise<boolean> {
  if (mariadbUp !== null) return mariadbUp;
  try {
    const connection = await mysql.createConnection({ uri: MARIADB_URL, connectTimeout: 3000 });
    await connection.query("select 1");
    await connection.end();
    mariadbUp = true;
  } catch {
    mariadbUp = false;
  }
  return mariadbUp;
}

/** Runs statements as MariaDB's administrative account (test setup: create and drop databases). */
export async function mariadbAdmin<T>(use: (connection: mysql.Connection) => Promise<T>): Promise<T> {
  const connection = await mysql.createConnection({ uri: MARIADB_URL });
  try {
    return await use(connection);
  } finally {
    await connection.end();
  }
}

/** A fresh, empty MariaDB database (with the server's default collation, which is not the queue's:
 * the tables must set their own); drop() removes it. */
export async function createMariadbDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `mailer_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await mariadbAdmin((c) => c.query(`create database ${name}`));
  return {
    url: withDatabase(MARIADB_URL, name),
    name,
    drop: () => mariadbAdmin((c) => c.query(`drop database if exists ${name}`)).then(() => {}),
  };
}

/** `url` with its database name replaced by `name`. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = "/" + name;
  return u.toString();
}

/** A fresh, empty PostgreSQL database; drop() removes it (terminating leftover connections). */
export async function createPgDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `mailer_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: withDatabase(PG_URL, name),
    name,
    async drop() {
      const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await sql.end();
      }
    },
  };
}

export type Dialect = "sqlite" | "postgres" | "mariadb";

/** A fresh, empty PostgreSQL or MariaDB database, opened; `cleanups` gets what closes and drops it. */
export async function openFreshDatabase(dialect: "postgres" | "mariadb", cleanups: Array<() => Promise<unknown>>): Promise<Database> {
  const created = dialect === "postgres" ? await createPgDatabase() : await createMariadbDatabase();
  const db = await openDatabase(created.url);
  cleanups.push(async () => {
    await db.close();
    await created.drop();
  });
  return db;
}

/** A database URL for a test of the given dialect, and its cleanup. */
export async function testDatabase(dialect: Dialect): Promise<{ url: string; cleanup(): Promise<void> }> {
  if (dialect === "sqlite") {
    const dir = tempDir();
    return { url: `sqlite:${join(dir.path, "mailer.db")}`, cleanup: async () => dir.cleanup() };
  }
  const db = dialect === "postgres" ? await createPgDatabase() : await createMariadbDatabase();
  return { url: db.url, cleanup: () => db.drop() };
}

/** A trigger that makes the database refuse any message with this subject, failing with `message`:
 * a failure from inside an INSERT, after the rows before it were written (all-or-none tests). */
export async function refuseSubject(db: Database, dialect: Dialect, subject: string, message: string): Promise<void> {
  const statements = {
    sqlite: [`CREATE TRIGGER refuse_subject BEFORE INSERT ON mailer_message WHEN NEW.subject = '${subject}' BEGIN SELECT RAISE(ABORT, '${message}'); END`],
    postgres: [
      `CREATE FUNCTION refuse_subject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.subject = '${subject}' THEN RAISE EXCEPTION '${message}'; END IF; RETURN NEW; END $$`,
      "CREATE TRIGGER refuse_subject BEFORE INSERT ON mailer_message FOR EACH ROW EXECUTE FUNCTION refuse_subject()",
    ],
    mariadb: [
      `CREATE TRIGGER refuse_subject BEFORE INSERT ON mailer_message FOR EACH ROW BEGIN IF NEW.subject = '${subject}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${message}'; END IF; END`,
    ],
  }[dialect];
  for (const statement of statements) await sql.raw(statement).execute(db.kysely);
}
