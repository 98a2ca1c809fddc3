// Log output of the binary as journald, a log shipper or a person at a terminal gets it: JSON lines
// that parse back with the per-message fields, key=value text, no password in any output, colours
// and the progress line only on a terminal.
import { afterEach, expect, test } from "bun:test";
import { runMailer } from "../helpers/cli.ts";
import { runtimeBench, toml, type RuntimeBench } from "./helpers.ts";

let b: RuntimeBench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

const sendMail = (bench: RuntimeBench, args: string[] = [], env: Record<string, string> = {}) =>
  runMailer(["send-mail", "--config", bench.configPath, ...args], { cwd: bench.dir, env });

test("--log-format json: every stderr line is one object; each outcome carries id, message_id, result, duration_ms", async () => {
  b = await runtimeBench();
  const [sink] = b.sinks;
  sink.onMessage = (m) => (m.subject === "defer me" ? { code: 451, message: "try again later" } : undefined);
  const q = await b.queue("queue");
  await q.enqueue("send me");
  await q.enqueue("defer me");
  await q.enqueue("suppress me");
  await q.db.kysely.updateTable("mailer_message").set({ envelope_to: "blocked@example.com" }).where("subject", "=", "suppress me").execute();
  b.write(toml(q.url, sink));
  expect((await runMailer(["dont-send", "add", "blocked@example.com", "--config", b.configPath], { cwd: b.dir })).code).toBe(0);

  const run = await sendMail(b, ["--log-format", "json", "--log-level", "debug"]);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^1 sent, 1 deferred, 0 failed in [\d.]+ s\n$/);
  const lines = run.stderr.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const line of lines) {
    expect(typeof line.time).toBe("string");
    expect(["debug", "info", "warn", "error"]).toContain(line.level as string);
    expect(typeof line.msg).toBe("string");
  }
  expect(lines.some((l) => String(l.msg).startsWith("nodemailer: "))).toBe(true); // routed in at debug
  const outcomes = lines.filter((l) => "result" in l);
  const ids = (await q.db.kysely.selectFrom("mailer_messagelog").select(["queue_id", "message_id", "result"]).execute());
  expect(outcomes.map((o) => [o.result, o.msg])).toEqual([
    ["sent", "message sent"],
    ["deferred", "message deferred"],
    ["dont_send", "message not sent (don't-send list)"],
  ]);
  for (const o of outcomes) {
    expect(o.level).toBe("info");
    expect(typeof o.id).toBe("number");
    expect(o.message_id).toMatch(/^<.+@.+>$/);
    expect(typeof o.duration_ms).toBe("number");
    expect(o.recipients).toBe(1);
    expect(ids.some((row) => row.queue_id === o.id && row.message_id === o.message_id)).toBe(true);
  }
  expect(outcomes[1]!.error).toContain("451");
});

test("text format shows the same fields as key=value, one line per outcome", async () => {
  b = await runtimeBench();
  const q = await b.queue("queue");
  await q.enqueue("one");
  b.write(toml(q.url, b.sinks[0]));
  const run = await sendMail(b);
  expect(run.code).toBe(0);
  const lines = run.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^\S+Z INFO  message sent id=1 message_id=<\S+> result=sent duration_ms=[\d.]+ recipients=1 delivered=1$/);
});

test("no password in any output: AUTH at debug level, password from the environment, right and wrong", async () => {
  const password = "env-secret-pw-42";
  b = await runtimeBench({ auth: { user: "mailer", pass: password }, tls: "starttls" });
  const q = await b.queue("queue");
  await q.enqueue("authenticated");
  b.write(toml(q.url, b.sinks[0], 'user = "mailer"\npassword_env = "SMTP_PASSWORD"\ntls_verify = false'));
  const forms = [password, Buffer.from(password).toString("base64"), Buffer.from(`\0mailer\0${password}`).toString("base64")];
  for (const format of ["json", "text"]) {
    const ok = await sendMail(b, ["--log-level", "debug", "--log-format", format], { SMTP_PASSWORD: password });
    expect(ok.stdout).toStartWith("1 sent");
    expect(ok.stderr).toContain("AUTH PLAIN");
    for (const form of forms) expect(ok.stdout + ok.stderr).not.toContain(form);
    await q.enqueue("authenticated");
  }
  const wrong = "wrong-secret-pw-17";
  const refused = await sendMail(b, ["--log-level", "debug"], { SMTP_PASSWORD: wrong });
  expect(refused.stderr).toContain("535");
  for (const form of [wrong, Buffer.from(wrong).toString("base64"), Buffer.from(`\0mailer\0${wrong}`).toString("base64")]) {
    expect(refused.stdout + refused.stderr).not.toContain(form);
  }
});

test("the progress line and colours never reach a pipe (cron)", async () => {
  b = await runtimeBench();
  const q = await b.queue("queue");
  await q.enqueue("bulk", 300);
  b.write(toml(q.url, b.sinks[0]));
  const run = await sendMail(b);
  expect(run.stdout).toStartWith("300 sent");
  expect(run.stderr).not.toContain("msg/s");
  expect(run.stderr).not.toContain("\r");
  expect(run.stderr).not.toContain("\x1b");
});

test("on a terminal: a progress line while draining a backlog, colours unless NO_COLOR", async () => {
  b = await runtimeBench();
  const q = await b.queue("queue");
  await q.enqueue("bulk", 300);
  b.write(toml(q.url, b.sinks[0]));
  // script(1) gives the command a pseudo-terminal for stdout and stderr.
  const onTerminal = async (env: Record<string, string>) => {
    const { BINARY, cleanEnv } = await import("../helpers/cli.ts");
    const command = `${BINARY} send-mail --config ${b!.configPath}`;
    const proc = Bun.spawn(["script", "-qec", command, "/dev/null"], { cwd: b!.dir, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    return out;
  };
  const plain = await onTerminal({ NO_COLOR: "1" });
  expect(plain).toMatch(/\r\x1b\[K\d+\/300 sent, [\d.]+ msg\/s/);
  expect(plain).toContain("300 sent, 0 deferred");
  expect(plain).not.toMatch(/\x1b\[\d+m/);

  await q.enqueue("one more");
  const coloured = await onTerminal({});
  expect(coloured).toMatch(/\x1b\[36mINFO \x1b\[0m message sent/);
  expect(coloured).not.toContain("msg/s"); // one message: no progress line
});
