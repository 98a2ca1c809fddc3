// Run a suite on every database. When PostgreSQL or MariaDB does not answer, its part is skipped and
// counted, and test/preload.ts prints one loud line with the count (or fails the run when CI is set).
import { describe, test } from "bun:test";
import { mariadbReachable, pgReachable, type Dialect } from "./db.ts";

const available: Record<Dialect, boolean> = { sqlite: true, postgres: await pgReachable(), mariadb: await mariadbReachable() };
const counter = globalThis as { __mailerServerSkipped?: Partial<Record<Dialect, number>> };

type TestFn = (name: string, fn: () => unknown, timeout?: number) => void;

export const pgAvailable = available.postgres;

/** Whether this dialect's server answers (SQLite always does). */
export const dialectAvailable = (dialect: Dialect) => available[dialect];

/** A `test` that, for a server that is unreachable, is skipped and counted. */
export function testFor(dialect: Dialect): TestFn {
  if (available[dialect]) return (name, fn, timeout) => test(name, fn as () => Promise<void>, timeout);
  return (name, fn) => {
    const skipped = (counter.__mailerServerSkipped ??= {});
    skipped[dialect] = (skipped[dialect] ?? 0) + 1;
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

export const DIALECTS = ["sqlite", "postgres", "mariadb"] as const satisfies readonly Dialect[];

export function forEachDialect(suite: (dialect: Dialect, it: TestFn) => void, dialects: readonly Dialect[] = DIALECTS): void {
  for (const dialect of dialects) {
    describe(dialect, () => suite(dialect, testFor(dialect)));
  }
}
