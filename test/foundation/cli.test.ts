import { afterEach, describe, expect, test } from "bun:test";
import { COMMANDS } from "../../src/commands/registry.ts";
import { VERSION } from "../../src/version.ts";
import { runMailer, writeConfig } from "../helpers/cli.ts";
import { tempDir } from "../helpers/db.ts";

const SPEC_COMMANDS = [
  "migrate", "send-mail", "runmailer", "runmailer-pg", "retry-deferred", "purge-mail-log",
  "queue", "sendmail", "smtpd", "dont-send", "status", "web",
];
/** Beyond SPEC §6: the operator's "where is my mail" commands. */
const EXTRA_COMMANDS = ["list", "show", "retry-failed"];
const ALL_COMMANDS = [...SPEC_COMMANDS, ...EXTRA_COMMANDS];

const dirs: Array<{ cleanup(): void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));
const dir = () => {
  const d = tempDir();
  dirs.push(d);
  return d.path;
};

describe("the binary", () => {
  test("--help lists every command of SPEC §6", async () => {
    const run = await runMailer(["--help"]);
    expect(run.code).toBe(0);
    for (const name of SPEC_COMMANDS) expect(run.stdout).toMatch(new RegExp(`^\\s+${name}\\b`, "m"));
  });

  test("--version prints the package version", async () => {
    const run = await runMailer(["--version"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(VERSION);
  });

  test("every command has its own --help", async () => {
    expect(COMMANDS.map((c) => c.name).sort()).toEqual([...ALL_COMMANDS].sort());
    const runs = await Promise.all(ALL_COMMANDS.map((name) => runMailer([name, "--help"])));
    runs.forEach((run, i) => {
      expect({ name: ALL_COMMANDS[i], code: run.code }).toEqual({ name: ALL_COMMANDS[i], code: 0 });
      expect(run.stdout).toContain(`$ mailer ${ALL_COMMANDS[i]}`);
      expect(run.stdout).toContain("--config");
    });
  });

  test("an unknown command is a usage error, exit 64", async () => {
    const run = await runMailer(["sned-mail"]);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('unknown command "sned-mail"');
  });

  test("an unknown option is a usage error, exit 64", async () => {
    const run = await runMailer(["status", "--jsno"]);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain("Unknown option `--jsno`");
  });

  test("a missing required argument is a usage error, exit 64", async () => {
    const run = await runMailer(["purge-mail-log"]);
    expect(run.code).toBe(64);
  });

  test("bad config exits 78 with one line per problem naming file, line and key", async () => {
    const cwd = dir();
    writeConfig(cwd, `[delivery]\nmax_batch = "x"\nthrotle = 1\n`);
    const run = await runMailer(["send-mail"], { cwd });
    expect(run.code).toBe(78);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^mailer: .*mailer\.toml:2: delivery\.max_batch: expected an integer >= 0, got "x"$/);
    expect(lines[1]).toMatch(/^mailer: .*mailer\.toml:3: unknown key delivery\.throtle \(did you mean delivery\.throttle\?\)$/);
  });

  test("--config naming a missing file exits 78", async () => {
    const run = await runMailer(["status", "--config", "/nonexistent/mailer.toml"]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("config file not found");
  });

  test("status --json prints the monitoring object of SPEC §6", async () => {
    const cwd = dir();
    const run = await runMailer(["status", "--json"], { cwd });
    expect(run.code).toBe(0);
    const status = JSON.parse(run.stdout);
    expect(status).toMatchObject({ queued: 0, deferred: 0, oldest_queued_age_s: null, log: { success: 0, failure: 0, dont_send: 0 } });
  });
});
