// Loaded before every test file (bunfig.toml). Makes sure the binary exists and that a missing
// PostgreSQL is loud: skipped with a count locally, a failure when CI is set.
import { afterAll } from "bun:test";
import { existsSync } from "node:fs";
import { PG_URL, pgReachable } from "./helpers/db.ts";
import { BINARY } from "./helpers/cli.ts";

if (!existsSync(BINARY)) {
  throw new Error(`${BINARY} is missing: run \`npm run build\` first (npm test does)`);
}

const reachable = await pgReachable();
if (!reachable && process.env.CI) {
  throw new Error(`PostgreSQL at ${PG_URL} is not reachable and CI is set: PostgreSQL tests must run in CI`);
}

afterAll(() => {
  for (const reason of (globalThis as { __mailerSkipped?: string[] }).__mailerSkipped ?? []) {
    process.stderr.write(`\n*** SKIPPED (cannot run on this machine): ${reason} ***\n`);
  }
  const skipped = (globalThis as { __mailerPgSkipped?: number }).__mailerPgSkipped ?? 0;
  if (skipped > 0) {
    process.stderr.write(
      `\n*** ${skipped} PostgreSQL test(s) SKIPPED: no server answers at ${PG_URL} (set MAILER_TEST_PG_URL) ***\n\n`,
    );
  }
});
