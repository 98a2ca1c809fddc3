import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { runMailer } from "../helpers/cli.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { addMessage, seededDatabase, type Seeded } from "./seed.ts";

forEachDialect((dialect, it) => {
  let s: Seeded;
  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    s = await seededDatabase(dialect);
    await addMessage(s.db, { priority: 1, ageS: 900 });
    await addMessage(s.db, { ageS: 30 });
    await addMessage(s.db, { ageS: 20 });
    await addMessage(s.db, { status: "deferred" });
    await addMessage(s.db, { status: "deferred" });
    await addMessage(s.db, { status: "failed" });
  });
  afterAll(async () => s?.cleanup());

  const cases: Array<[string, string[], RegExp]> = [
    ["--max-age", ["--max-age", "600"], /^mailer: status check failed: oldest queued message is 9\d\d s old \(--max-age 600\)$/],
    ["--max-queued", ["--max-queued", "2"], /^mailer: status check failed: 3 messages queued \(--max-queued 2\)$/],
    ["--max-deferred", ["--max-deferred", "1"], /^mailer: status check failed: 2 messages deferred \(--max-deferred 1\)$/],
    ["--max-failed", ["--max-failed", "0"], /^mailer: status check failed: 1 messages failed \(--max-failed 0\)$/],
  ];
  for (const [name, flags, reason] of cases) {
    it(`${name} crossed: exit 1, the reason on stderr, nothing on stdout`, async () => {
      const run = await s.run(["status", "--check", ...flags]);
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toMatch(reason);
      expect(run.stdout).toBe("");
    });
  }

  it("within every limit: exit 0 and silent (cron mails only on trouble)", async () => {
    const run = await s.run(["status", "--check", "--max-age", "1200", "--max-queued", "3", "--max-deferred", "2", "--max-failed", "1"]);
    expect(run).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("several crossed limits give one line each; --json still prints the report", async () => {
    const run = await s.run(["status", "--json", "--max-age", "60", "--max-queued", "0"]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toHaveLength(2);
    expect(JSON.parse(run.stdout).queued).toBe(3);
  });
});

describe("status --check usage", () => {
  test("--check without a threshold, or a bad threshold, is a usage error (64)", async () => {
    const bare = await runMailer(["status", "--check"]);
    expect(bare.code).toBe(64);
    expect(bare.stderr).toContain("needs at least one of --max-age");
    const bad = await runMailer(["status", "--max-age", "soon"]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--max-age: expected an integer >= 0, got "soon"');
  });

  test("an unreachable database exits 75, so a probe tells 'down' from 'over a limit'", async () => {
    const run = await runMailer(["status", "--check", "--max-age", "600"], {
      env: { MAILER_DATABASE_URL: "postgres://mailer@127.0.0.1:1/mail" },
    });
    expect(run.code).toBe(75);
  });
});
