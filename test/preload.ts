// Loaded before every test file (bunfig.toml). Makes sure the binary exists and that a missing
// PostgreSQL or MariaDB is loud: skipped with a count locally, a failure when CI is set.
import { afterAll } from "bun:test";
import { existsSync } from "node:fs";
import { MARIADB_URL, PG_URL, mariadbReachable, pgReachable } from "./helpers/db.ts";
import { BINARY } from "./helpers/cli.ts";

if (!existsSync(BINARY)) {
  throw new Error(`${BINARY} is missing: run \`npm run build\` first (npm test does)`);
}

const SERVERS = {
  postgres: { name: "PostgreSQL", url: PG_URL, env: "MAILER_TEST_PG_URL", reachable: await pgReachable() },
  mariadb: { name: "MariaDB", url: MARIADB_URL, env: "MAILER_TEST_MARIADB_URL", reachable: await mariadbReachable() },
};
for (const server of Object.values(SERVERS)) {
  if (!server.reachable && process.env.CI) {
    throw new Error(`${server.name} at ${server.url} is not reachable and CI is set: ${server.name} tests must run in CI`);
  }
}

afterAll(() => {
  for (const reason of (globalThis as { __mailerSkipped?: string[] }).__mailerSkipped ?? []) {
    process.stderr.write(`\n*** SKIPPED (cannot run on this machine): ${reason} ***\n`);
  }
  const skipped = (globalThis as { __mailerServerSkipped?: Partial<Record<keyof typeof SERVERS, number>> }).__mailerServerSkipped ?? {};
  for (const [dialect, count] of Object.entries(skipped)) {
    const server = SERVERS[dialect as keyof typeof SERVERS];
    process.stderr.write(`\n*** ${count} ${server.name} test(s) SKIPPED: no server answers at ${server.url} (set ${server.env}) ***\n\n`);
  }
});
