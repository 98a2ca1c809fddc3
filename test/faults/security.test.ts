// Security defaults through the compiled binary: TLS certificates are verified unless turned off;
// passwords never reach logs, `status`, `show` or `list`; a world-readable config holding a password
// draws a warning; smtpd listens on loopback unless told otherwise; error_handler is documented as
// trusted code.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

describe("TLS", () => {
  for (const tls of ["implicit", "starttls"] as const) {
    test(`${tls}: a self-signed certificate is refused by default (deferred, never sent in clear) and accepted with tls_verify = false`, async () => {
      b = await bench("sqlite", { backend: { secure: tls === "implicit" } }, { tls });
      await b.enqueue({ subject: "over tls" });
      const refused = await b.run(["send-mail"]);
      expect(summary(refused.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
      expect((await b.messages())[0]!.last_error).toMatch(/certificate|self[- ]signed|ETLS/i);
      expect(b.sink.received).toHaveLength(0);

      b.configure({ backend: { secure: tls === "implicit", tls_verify: false } });
      await b.run(["retry-deferred"]);
      expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(1);
      expect(b.sink.received.map((m) => m.subject)).toEqual(["over tls"]);
    });
  }
});

const PASSWORD = "pw-S3cr3t-7f9c2e";
const b64 = (s: string) => Buffer.from(s).toString("base64");
/** Every form the password could leak in: as is, base64 (AUTH LOGIN), base64 of the AUTH PLAIN blob. */
const LEAKS = [PASSWORD, b64(PASSWORD), b64(`\0app\0${PASSWORD}`), b64(`app\0app\0${PASSWORD}`)];
const leaked = (text: string) => LEAKS.filter((form) => text.includes(form));

forEachDialect((dialect, it) => {
  it("the SMTP password appears in no log line (debug, text and json), no status, show or list output, no log row", async () => {
    b = await bench(dialect, {}, { auth: { user: "app", pass: "the-right-one" }, tls: "starttls" });
    b.configure({ backend: { user: "app", password: PASSWORD, tls_verify: false } });
    chmodSync(b.configPath, 0o600);
    const id = await b.enqueue({ subject: "auth fails" });
    const outputs: string[] = [];
    for (const args of [["send-mail", "--log-level", "debug"], ["send-mail", "--log-level", "debug", "--log-format", "json"]]) {
      const run = await b.run(args);
      outputs.push(run.stdout, run.stderr);
      await b.run(["retry-deferred"]);
    }
    // The failure was an authentication failure, and it was said so (without the secret).
    expect(outputs.join("\n")).toMatch(/EAUTH|auth/i);
    for (const args of [["status"], ["status", "--json"], ["show", String(id)], ["show", String(id), "--json"], ["list", "--all", "--json"]]) {
      const run = await b.run(args);
      expect({ args, code: run.code }).toEqual({ args, code: 0 });
      outputs.push(run.stdout, run.stderr);
    }
    const rows = JSON.stringify([await b.messages(), (await b.logs()).map((l) => l.log_message)]);
    expect({ leakedInOutput: leaked(outputs.join("\n")), leakedInDatabase: leaked(rows) }).toEqual({ leakedInOutput: [], leakedInDatabase: [] });
  });
});

test("a database URL's password is masked in status and in errors", async () => {
  b = await bench("sqlite");
  const url = `postgres://app:${PASSWORD}@127.0.0.1:1/nowhere`;
  const down = await b.run(["status"], { MAILER_DATABASE_URL: url });
  expect(down.code).toBe(75);
  expect(down.stderr).toContain("app:***@127.0.0.1:1");
  expect(leaked(down.stdout + down.stderr)).toEqual([]);
});

describe("config file permissions", () => {
  test("a world-readable config holding a password draws a warning; 0600, or password_env, does not", async () => {
    b = await bench("sqlite");
    b.configure({ backend: { user: "app", password: PASSWORD } });
    chmodSync(b.configPath, 0o644);
    expect((await b.run(["status"])).stderr).toMatch(/mailer\.toml holds a password and is world-readable; chmod o-r it/);
    chmodSync(b.configPath, 0o600);
    expect((await b.run(["status"])).stderr).not.toContain("world-readable");
    b.configure({ backend: { user: "app", password_env: "TEST_SMTP_PASSWORD" } });
    chmodSync(b.configPath, 0o644);
    expect((await b.run(["status"], { TEST_SMTP_PASSWORD: PASSWORD })).stderr).not.toContain("world-readable");
  });
});

describe("defaults", () => {
  test("smtpd listens on loopback and TLS is verified unless the config says otherwise", () => {
    const { config } = loadConfig({ env: {}, cwd: "/nonexistent", systemPath: "/nonexistent/mailer.toml" });
    expect(config.smtpd.listen).toBe("127.0.0.1:2525");
    expect(config.smtpd.allow_open_relay).toBe(false);
    expect(config.backend.tls_verify).toBe(true);
  });

  test("error_handler is documented as trusted code, in the example config and the docs", () => {
    const root = join(import.meta.dir, "../..");
    expect(readFileSync(join(root, "mailer.toml.example"), "utf8")).toMatch(/trusted code.*\n# error_handler = /i);
    expect(readFileSync(join(root, "docs/reliability.md"), "utf8")).toMatch(/error_handler[^\n]*trusted code|trusted code[^\n]*error_handler/i);
  });
});
