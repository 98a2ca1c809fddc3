// The one module that knows which JavaScript runtime it is on. Everything Bun-only (or Deno-only)
// lives here so the rest of the sources run unchanged on both.
import type { SqliteDatabase } from "kysely";

export const runtimeName: "bun" | "deno" | "node" =
  typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? "bun"
    : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
      ? "deno"
      : "node";

export interface SqliteHandle extends SqliteDatabase {
  /** Run one statement with no result, e.g. a PRAGMA. */
  exec(sql: string): void;
}

/** Open an SQLite file in the shape Kysely's SqliteDialect expects. */
export async function openSqlite(path: string): Promise<SqliteHandle> {
  if (runtimeName === "bun") {
    const { Database } = await import("bun:sqlite");
    const db = new Database(path, { create: true, strict: false });
    return {
      // db.query caches the prepared statement per SQL text, so hot queries are prepared once.
      prepare: (sql: string) => db.query(sql) as never,
      close: () => db.close(),
      exec: (sql: string) => void db.run(sql),
    };
  }
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(path);
  const cache = new Map<string, ReturnType<typeof db.prepare>>();
  return {
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql);
        cache.set(sql, stmt);
      }
      const s = stmt;
      const reader = /^\s*(select|with|pragma|values)\b/i.test(sql) || /\breturning\b/i.test(sql);
      return {
        reader,
        all: (params: ReadonlyArray<unknown>) => s.all(...(params as never[])),
        run: (params: ReadonlyArray<unknown>) => s.run(...(params as never[])) as never,
        iterate: (params: ReadonlyArray<unknown>) => s.iterate(...(params as never[])) as never,
      };
    },
    close: () => db.close(),
    exec: (sql: string) => db.exec(sql),
  };
}

/** True when `pid` names a live process on this host (EPERM still means it exists). */
export function processExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
