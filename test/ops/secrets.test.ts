import { afterAll, beforeAll, expect } from "bun:test";
import { runMailer } from "../helpers/cli.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { addLog, addMessage, seededDatabase, type Seeded } from "./seed.ts";

const DB_PASSWORD = "pgS3cretPassw0rd";
const SMTP_PASSWORD = "smtpS3cret-Pa55";
const SMTPD_PASSWORD = "intakeS3cret-Pa55";
const SECRETS = [DB_PASSWORD, SMTP_PASSWORD, SMTPD_PASSWORD];

forEachDialect((dialect, it) => {
  let s: Seeded;
  let id = 0;
  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    s = await seededDatabase(dialect, {
      // The test server trusts local connections, so the password is carried but never checked.
      configUrl: (url) => (dialect === "postgres" ? url.replace("postgres://postgres@", `postgres://postgres:${DB_PASSWORD}@`) : url),
      toml: `[backend]\nuser = "mailer"\npassword = "${SMTP_PASSWORD}"\n[smtpd]\nuser = "app"\npassword = "${SMTPD_PASSWORD}"\n`,
    });
    // Errors that quote a credential (a careless server or handler) must not carry it to the screen.
    id = await addMessage(s.db, { status: "deferred", last_error: `535 auth failed for mailer/${SMTP_PASSWORD}` });
    await addLog(s.db, { result: "failure", queue_id: id, log_message: `could not reach postgres://postgres:${DB_PASSWORD}@db/x` });
  });
  afterAll(async () => s?.cleanup());

  it("no password appears in status, list or show output, text or JSON", async () => {
    const commands = [
      ["status"], ["status", "--json"], ["list", "--all"], ["list", "--all", "--json"],
      ["show", String(id)], ["show", String(id), "--json"], ["status", "--check", "--max-deferred", "0"],
    ];
    for (const args of commands) {
      const run = await s.run(args);
      expect({ args, code: run.code }).toEqual({ args, code: args.includes("--check") ? 1 : 0 });
      for (const secret of SECRETS) {
        expect(run.stdout).not.toContain(secret);
        expect(run.stderr).not.toContain(secret);
      }
    }
    const show = await s.run(["show", String(id)]);
    expect(show.stdout).toContain("535 auth failed for mailer/***");
  });

  if (dialect === "postgres") {
    it("status shows the database URL with its password masked", async () => {
      const json = JSON.parse((await s.run(["status", "--json"])).stdout);
      expect(json.database).toMatch(/^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/mailer_test_/);
      expect((await s.run(["status"])).stdout).toMatch(/^database\s+postgres:\/\/postgres:\*\*\*@/m);
    });
  }
});

forEachDialect((dialect, it) => {
  if (dialect !== "postgres") return;
  it("an unreachable database's error names the URL without its password", async () => {
    const run = await runMailer(["status"], { env: { MAILER_DATABASE_URL: `postgres://mailer:${DB_PASSWORD}@127.0.0.1:1/mail` } });
    expect(run.code).toBe(75);
    expect(run.stderr).toContain("postgres://mailer:***@127.0.0.1:1/mail");
    expect(run.stderr).not.toContain(DB_PASSWORD);
  });
});
