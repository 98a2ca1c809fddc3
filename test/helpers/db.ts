// Per-test databases: a temporary SQLite file, or a PostgreSQL database created and dropped for the test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

export const PG_URL = process.env.MAILER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

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

function withDatabase(url: string, name: string): string {
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

export type Dialect = "sqlite" | "postgres";

/** A database URL for a test of the given dialect, and its cleanup. */
export async function testDatabase(dialect: Dialect): Promise<{ url: string; cleanup(): Promise<void> }> {
  if (dialect === "sqlite") {
    const dir = tempDir();
    return { url: `sqlite:${join(dir.path, "mailer.db")}`, cleanup: async () => dir.cleanup() };
  }
  const db = await createPgDatabase();
  return { url: db.url, cleanup: () => db.drop() };
}
