// Run a suite on both databases. When PostgreSQL does not answer, its half is skipped and counted, and
// test/preload.ts prints one loud line with the count (or fails the run when CI is set).
import { describe, test } from "bun:test";
import { pgReachable, type Dialect } from "./db.ts";

const PG = await pgReachable();
const counter = globalThis as { __mailerPgSkipped?: number };

type TestFn = (name: string, fn: () => unknown, timeout?: number) => void;

export const pgAvailable = PG;

/** A `test` that, for PostgreSQL when it is unreachable, is skipped and counted. */
export function testFor(dialect: Dialect): TestFn {
  if (dialect === "sqlite" || PG) return (name, fn, timeout) => test(name, fn as () => Promise<void>, timeout);
  return (name, fn) => {
    counter.__mailerPgSkipped = (counter.__mailerPgSkipped ?? 0) + 1;
    test.skip(name, fn as () => Promise<void>);
  };
}

export function forEachDialect(suite: (dialect: Dialect, it: TestFn) => void): void {
  for (const dialect of ["sqlite", "postgres"] as const) {
    describe(dialect, () => suite(dialect, testFor(dialect)));
  }
}
