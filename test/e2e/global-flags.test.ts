// Global flags before the subcommand work on every command (SPEC §6), raw ones included: `mailer
// --config X queue --to …` used to drop every flag, and `mailer --config X sendmail -t -i -f a@b`
// lost -t and -f to cac.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runMailer, spawnMailer } from "../helpers/cli.ts";
import { readLines } from "../helpers/lines.ts";
import { tempDir } from "../helpers/db.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";

let tq: TestQueue;
let cwd: ReturnType<typeof tempDir>;
let sink: Sink;
beforeEach(async () => {
  sink = await startSink();
  tq = await testQueue("sqlite", `[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n[lock]\npath = "send_mail"\n[queue]\naliases = ""\n`);
  cwd = tempDir(); // holds no mailer.toml: a command that ignored --config would make ./mailer.db here
});
afterEach(async () => {
  await tq.cleanup();
  cwd.cleanup();
  await sink.close();
});

const mailer = (args: string[], stdin?: string) => runMailer(args, { cwd: cwd.path, stdin });

test("queue and sendmail keep every flag after a global --config, -c or --log-level before them", async () => {
  const queued = await mailer(["--config", tq.config, "queue", "--to", "a@example.com", "--from", "me@example.com", "--subject", "0x10", "--text", "hi"]);
  expect([queued.code, queued.stdout]).toEqual([0, "1\n"]);
  const piped = await mailer(["-c", tq.config, "--log-level", "debug", "sendmail", "-t", "-i", "-f", "bounce@example.com"], "To: b@example.com\nSubject: s\n\n.\nbody\n");
  expect(piped.code).toBe(0);
  expect(piped.stderr).toContain("queued"); // the debug line: --log-level reached sendmail
  const equals = await mailer([`--config=${tq.config}`, "sendmail", "-t"], "From: x@example.com\nTo: c@example.com\n\nbody\n");
  expect(equals.code).toBe(0);
  const rows = await tq.rows();
  expect(rows.map((r) => [r.subject, r.envelopeFrom, r.envelopeTo])).toEqual([
    ["0x10", "me@example.com", ["a@example.com"]],
    ["s", "bounce@example.com", ["b@example.com"]],
    ["", "x@example.com", ["c@example.com"]],
  ]);
  expect(rows[1]!.raw.toString()).toContain("\r\n.\r\nbody\r\n"); // -i: the lone dot did not end it
  expect(existsSync(join(cwd.path, "mailer.db"))).toBe(false);
});

test("every other command takes --config before it", async () => {
  await mailer(["--config", tq.config, "queue", "--to", "a@example.com", "--from", "me@example.com", "--subject", "s", "--text", "t"]);
  const cases: Array<[string[], number, RegExp?]> = [
    [["migrate"], 0],
    [["status", "--json"], 0, /"queued":1/],
    [["list"], 0, /a@example\.com/],
    [["show", "1"], 0, /Subject: s/],
    [["dont-send", "list"], 0],
    [["send-mail"], 0, /^1 sent/],
    [["retry-deferred"], 0],
    [["retry-failed", "--all"], 0],
    [["purge-mail-log", "7"], 0],
  ];
  for (const [args, code, out] of cases) {
    const result = await mailer(["--config", tq.config, "--log-format", "json", ...args]);
    expect([args.join(" "), result.code]).toEqual([args.join(" "), code]);
    if (out) expect(result.stdout).toMatch(out);
  }
  expect(sink.received).toHaveLength(1);
  expect(existsSync(join(cwd.path, "mailer.db"))).toBe(false);
});

test("the long-running commands (runmailer, smtpd) take --config before them too", async () => {
  for (const args of [["runmailer"], ["smtpd", "--listen", "127.0.0.1:0"]]) {
    const proc = spawnMailer(["--config", tq.config, "--log-level", "debug", ...args], { cwd: cwd.path });
    const stderr = readLines(proc.stderr as ReadableStream<Uint8Array>);
    const started = await stderr.waitFor(/runmailer started|smtpd listening/);
    if (args[0] === "runmailer") expect(started).toContain(tq.url);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }
  expect(existsSync(join(cwd.path, "mailer.db"))).toBe(false);
});

test("a global flag without its value is a usage error", async () => {
  const result = await mailer(["--config"]);
  expect(result.code).toBe(64);
  expect(result.stderr).toContain("--config requires a value");
});

test("sendmail submits with the worker's password_env unset and a typo in [delivery]; the worker refuses the typo", async () => {
  writeFileSync(tq.config, `[database]\nurl = "${tq.url}"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\nuser = "u"\npassword_env = "SMTP_PASSWORD"\n[delivery]\nthrotle = 0.5\n[queue]\naliases = ""\n`);
  const submitted = await mailer(["--config", tq.config, "sendmail", "ops@example.com"], "From: a@example.com\nSubject: s\n\nb\n");
  expect(submitted.code).toBe(0);
  // One warning line, nothing else.
  expect(submitted.stderr).toMatch(
    new RegExp(`^\\S+ WARN +${tq.config}:9: unknown key delivery\\.throtle \\(did you mean delivery\\.throttle\\?\\) \\(not used by this command; ignored\\)\\n$`),
  );
  const status = await mailer(["--config", tq.config, "status", "--json"]);
  expect([status.code, JSON.parse(status.stdout).queued]).toEqual([0, 1]);
  const worker = await mailer(["--config", tq.config, "send-mail"]);
  expect(worker.code).toBe(78);
  expect(worker.stderr).toContain("SMTP_PASSWORD is not set");
  expect(worker.stderr).toContain("delivery.throtle");
});
