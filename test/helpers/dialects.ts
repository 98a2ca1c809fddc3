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

/** A `test` that needs something the machine may lack (a tmpfs mount, say). Without it the test is
 * skipped and counted (test/preload.ts prints the count), and under CI it fails instead: a test that
 * could not run is never reported as passed. */
export function testIf(available: boolean, missing: string) {
  return (name: string, fn: () => unknown, timeout?: number) => {
    if (available) return test(name, fn as () => Promise<void>, timeout);
    if (process.env.CI) return test(name, () => {
      throw new Error(`cannot run here (${missing}), and CI is set: every test must run in CI`);
    });
    const skipped = globalThis as { __mailerSkipped?: string[] };
    (skipped.__mailerSkipped ??= []).push(`${name}: ${missing}`);
    test.skip(name, fn as () => Promise<void>);
  };
}

export function forEachDialect(suite: (dialect: Dialect, it: TestFn) => void): void {
  for (const dialect of ["sqlite", "postgres"] as const) {
    describe(dialect, () => suite(dialect, testFor(dialect)));
  }
}
