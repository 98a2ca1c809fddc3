// Malformed and hostile config files given to the compiled binary: each must be a clear error (exit
// 78, lines starting "mailer: " that name the file), never a crash, a stack trace or a hang.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runMailer } from "../helpers/cli.ts";
import { tempDir } from "../helpers/db.ts";
import { seeded } from "./support.ts";

let dir: { path: string; cleanup(): void };
beforeAll(() => {
  dir = tempDir("mailer-badconfig-");
});
afterAll(() => dir.cleanup());

const random = seeded(99);
const garbage = Buffer.from(Array.from({ length: 8192 }, () => Math.floor(random() * 256)));

/** [what, file contents (or a function making the path), what the error must mention] */
const CASES: Array<[string, string | Buffer | ((path: string) => void), RegExp]> = [
  ["random binary bytes", garbage, /malformed TOML|not valid UTF-8/],
  ["a NUL byte inside a key", "[delivery]\nmax_\0batch = 5\n", /malformed TOML|unknown key/],
  ["invalid UTF-8 in a string", Buffer.concat([Buffer.from('[backend]\nhost = "'), Buffer.from([0xff, 0xfe]), Buffer.from('"\n')]), /:2: not valid UTF-8/],
  ["an unterminated string", '[backend]\nhost = "smtp.example.com\n', /malformed TOML/],
  ["a duplicate key", "[backend]\nport = 25\nport = 587\n", /malformed TOML/],
  ["a duplicate table", "[backend]\n[backend]\n", /malformed TOML/],
  ["arrays nested 100,000 deep", `x = ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`, /malformed TOML|unknown key/],
  ["inline tables nested 50,000 deep", `x = ${"{a=".repeat(50_000)}1${"}".repeat(50_000)}\n`, /malformed TOML|unknown key/],
  ["a 5 MB file of comments ending in junk", `${"# padding line\n".repeat(350_000)}junk junk\n`, /malformed TOML/],
  ["a 100,000-character key", `[delivery]\n${"k".repeat(100_000)} = 1\n`, /unknown key/],
  ["a section that is a value", 'backend = "smtp"\n', /expected a \[backend\] table/],
  ["wrong types everywhere", '[backend]\nport = "25"\npool = 1e9\ntimeout = -1\n[delivery]\nthrottle = "fast"\n', /backend\.port: expected/],
  ["a number too large for an integer", "[backend]\nport = 99999999999999999999999\n", /backend\.port|malformed/],
  ["bad [retry] values", '[retry]\nauto = "yes"\nmin_backoff = "soon"\njitter = 2\nmax_lifetime = -5\n', /retry\.auto: expected true or false/],
  ["an unknown section with a near miss", "[retyr]\nauto = true\n", /unknown key retyr \(did you mean retry\?\)/],
  ["a directory as the config file", (path) => mkdirSync(path), /cannot read config file/],
  ["a symlink loop", (path) => symlinkSync(path, path), /config file not found|cannot read/],
];

for (const [what, contents, mentions] of CASES) {
  test(`${what}: exit 78 with a clear error naming the file`, async () => {
    const path = join(dir.path, `${what.replace(/\W+/g, "-")}.toml`);
    if (typeof contents === "function") contents(path);
    else writeFileSync(path, contents);
    // send-mail reads every section these files spoil (status would only warn about most of them).
    const run = await runMailer(["send-mail", "--config", path], { cwd: dir.path, timeoutMs: 30_000 });
    expect({ code: run.code, stackTrace: run.stderr.includes("    at "), unexpected: run.stderr.includes("unexpected error") }).toEqual({
      code: 78,
      stackTrace: false,
      unexpected: false,
    });
    expect(run.stderr.split("\n").filter(Boolean).every((l) => l.startsWith("mailer: "))).toBe(true);
    expect(run.stderr).toContain(path.slice(0, 200));
    expect(run.stderr).toMatch(mentions);
    // One line per problem, and a bounded one: a hostile file is not echoed back in full.
    expect(run.stderr.length).toBeLessThan(20_000);
  });
}

test("an unreadable config file: exit 78, not a crash", async () => {
  const path = join(dir.path, "unreadable.toml");
  writeFileSync(path, "[backend]\nport = 25\n");
  chmodSync(path, 0o000);
  chmodSync(dir.path, 0o755);
  const asRoot = process.getuid?.() === 0;
  // root reads anything: read it as nobody instead.
  const argv = [...(asRoot ? ["runuser", "-u", "nobody", "--"] : []), process.env.MAILER_TEST_BINARY ?? join(import.meta.dir, "../../dist/mailer"), "status", "--config", path];
  const proc = Bun.spawn(argv, { cwd: "/", stdout: "pipe", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  expect({ code, stderr }).toEqual({ code: 78, stderr: expect.stringMatching(/^mailer: .*unreadable\.toml: cannot read config file/) });
});

test("a bad value from the environment names the variable", async () => {
  const run = await runMailer(["send-mail"], { cwd: dir.path, env: { MAILER_RETRY_MIN_BACKOFF: "5 minutes", MAILER_BACKEND_PORT: "smtp" } });
  expect(run.code).toBe(78);
  expect(run.stderr).toContain("environment MAILER_BACKEND_PORT: backend.port: expected an integer from 1 to 65535");
  expect(run.stderr).toContain("environment MAILER_RETRY_MIN_BACKOFF: retry.min_backoff: expected a duration");
});

test("no secret is echoed in a config error or warning: a password of the wrong type, a database URL that is refused", async () => {
  const secrets = ["87654321", "s3cret-pw", "t0ps3cret"];
  const files: Array<[string, string, string]> = [
    ["a numeric password (an error: send-mail uses [backend])", "[backend]\npassword = 87654321\n", "backend.password: expected a string, got a number"],
    ["a password that is a table (a warning: send-mail does not use [smtpd])", '[smtpd]\npassword = { value = "s3cret-pw" }\n', "smtpd.password: expected a string, got a table"],
    ["a database URL of an unknown scheme", '[database]\nurl = "mssql://app:s3cret-pw@db.internal/mail"\n', 'got "mssql://app:***@db.internal/mail"'],
    ["a malformed postgres URL", '[database]\nurl = "postgres://app:t0ps3cret@[db/mail"\n', "not a valid postgres URL"],
  ];
  for (const [what, text, mentions] of files) {
    const path = join(dir.path, "secret.toml");
    writeFileSync(path, text);
    const run = await runMailer(["send-mail", "--config", path], { cwd: dir.path });
    const output = run.stdout + run.stderr;
    expect({ what, mentions: output.includes(mentions) }).toEqual({ what, mentions: true });
    for (const secret of secrets) expect({ what, leaks: output.includes(secret) }).toEqual({ what, leaks: false });
  }
});
