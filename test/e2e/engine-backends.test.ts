// Every [backend] type through the compiled binary. Backends do not depend on the database: SQLite.
import { afterEach, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bench, summary, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

test("file backend: one .eml per message, byte for byte the stored text", async () => {
  b = await bench("sqlite", { backend: { type: "file", dir: "./outbox" } });
  await b.enqueue({ subject: "one" });
  await b.enqueue({ subject: "two" });
  const stored = (await b.messages()).map((m) => Buffer.from(m.message_data).toString());
  const run = await b.run(["send-mail"]);
  expect(summary(run.stdout).sent).toBe(2);
  const files = readdirSync(join(b.dir, "outbox")).sort();
  expect(files).toHaveLength(2);
  expect(files.every((f) => f.endsWith(".eml"))).toBe(true);
  const written = files.map((f) => readFileSync(join(b!.dir, "outbox", f), "utf8")).sort();
  expect(written).toEqual(stored.sort());
});

test("console backend: prints each message to stdout", async () => {
  b = await bench("sqlite", { backend: { type: "console" } });
  await b.enqueue({ subject: "printed here", to: "who@example.com" });
  const run = await b.run(["send-mail"]);
  expect(run.stdout).toContain("RCPT TO:<who@example.com>");
  expect(run.stdout).toContain("Subject: printed here");
  expect(summary(run.stdout).sent).toBe(1);
});

test("null backend: counts as sent, sends nothing", async () => {
  b = await bench("sqlite", { backend: { type: "null" } });
  await b.enqueue();
  const run = await b.run(["send-mail"]);
  expect(summary(run.stdout).sent).toBe(1);
  expect(b.sink.received).toHaveLength(0);
  expect((await b.logs())[0]!.result).toBe("success");
});

test("sendmail backend: runs the program at path with the envelope, the text on stdin", async () => {
  b = await bench("sqlite");
  const script = join(b.dir, "fake-sendmail.sh");
  writeFileSync(script, `#!/bin/sh\necho "$@" > "${b.dir}/args.txt"\ncat > "${b.dir}/stdin.eml"\n`);
  chmodSync(script, 0o755);
  b.configure({ backend: { type: "sendmail", path: script } });
  await b.enqueue({ subject: "via sendmail", to: "piped@example.com" });
  const run = await b.run(["send-mail"]);
  expect(summary(run.stdout).sent).toBe(1);
  expect(readFileSync(join(b.dir, "args.txt"), "utf8")).toContain("-f sender@example.com piped@example.com");
  expect(readFileSync(join(b.dir, "stdin.eml"), "utf8")).toContain("Subject: via sendmail");
});

test("sendmail backend: a program that fails defers the message", async () => {
  b = await bench("sqlite", { backend: { type: "sendmail", path: "/bin/false" } });
  await b.enqueue();
  const run = await b.run(["send-mail"]);
  expect(summary(run.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
});

test("module backend: a factory building a transporter from the nodemailer it is handed", async () => {
  b = await bench("sqlite");
  writeFileSync(
    join(b.dir, "transport.ts"),
    `export default ({ config, nodemailer }: any) =>
  nodemailer.createTransport({ host: config.backend.host, port: config.backend.port, secure: false, ignoreTLS: true });
`,
  );
  b.configure({ backend: { type: "module", module: "./transport.ts" } });
  await b.enqueue({ subject: "via module" });
  const run = await b.run(["send-mail"]);
  expect(run.code).toBe(0);
  expect(summary(run.stdout).sent).toBe(1);
  expect(b.sink.received.map((m) => m.subject)).toEqual(["via module"]);
});

test("module backend: an object with send(); an unexpected throw is deferred and labelled", async () => {
  b = await bench("sqlite");
  writeFileSync(
    join(b.dir, "transport.js"),
    `export default () => ({
  async send(message) {
    if (message.envelope.to[0] === "boom@example.com") throw new TypeError("cannot read properties of undefined");
    return { accepted: message.envelope.to, rejected: [], response: "ok" };
  },
});
`,
  );
  b.configure({ backend: { type: "module", module: "./transport.js" } });
  await b.enqueue({ subject: "explodes", to: "boom@example.com", priority: 1 });
  await b.enqueue({ subject: "fine" });
  const run = await b.run(["send-mail"]);
  expect(summary(run.stdout)).toEqual({ sent: 1, deferred: 1, failed: 0 });
  const failure = (await b.logs()).find((l) => l.result === "failure")!;
  expect(failure.log_message).toBe("unexpected error: cannot read properties of undefined");
  expect(run.stderr).toContain("ERROR");
});

test("module backend: a module that does not load is a config error and leaves the queue as it was", async () => {
  b = await bench("sqlite", { backend: { type: "module", module: "./nope.ts" } });
  await b.enqueue();
  const run = await b.run(["send-mail"]);
  expect(run.code).toBe(78);
  expect(run.stderr).toContain("backend.module: cannot load");
  const [row] = await b.messages();
  expect([row!.status, row!.claimed_by]).toEqual(["queued", null]);
});

test("module backend: a factory that throws, or builds nothing usable, is a config error", async () => {
  b = await bench("sqlite", { backend: { type: "module", module: "./transport.ts" } });
  await b.enqueue();
  writeFileSync(join(b.dir, "transport.ts"), `export default () => { throw new Error("no credentials"); };\n`);
  const threw = await b.run(["send-mail"]);
  expect(threw.code).toBe(78);
  expect(threw.stderr).toContain("threw: no credentials");
  writeFileSync(join(b.dir, "transport2.ts"), `export default () => ({ hello: "world" });\n`);
  b.configure({ backend: { type: "module", module: "./transport2.ts" } });
  const useless = await b.run(["send-mail"]);
  expect(useless.code).toBe(78);
  expect(useless.stderr).toContain("neither a nodemailer transporter nor an object with send()");
  expect((await b.messages())[0]!.claimed_by).toBeNull();
});

test("smtp AUTH with the password from the environment; a wrong one defers (EAUTH)", async () => {
  b = await bench(
    "sqlite",
    { backend: { user: "mailer", password_env: "TEST_SMTP_PASSWORD", tls_verify: false } },
    { auth: { user: "mailer", pass: "s3cret" }, tls: "starttls" },
  );
  await b.enqueue();
  const ok = await b.run(["send-mail"], { TEST_SMTP_PASSWORD: "s3cret" });
  expect(summary(ok.stdout).sent).toBe(1);
  await b.enqueue();
  const wrong = await b.run(["send-mail"], { TEST_SMTP_PASSWORD: "wrong" });
  expect(summary(wrong.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
  expect((await b.logs())[1]!.log_message).toContain("EAUTH");
  expect(wrong.stderr).not.toContain("wrong");
});

test("smtp AUTH with the password from a file", async () => {
  b = await bench("sqlite", {}, { auth: { user: "mailer", pass: "from-file" }, tls: "starttls" });
  writeFileSync(join(b.dir, "smtp-password"), "from-file\n");
  b.configure({ backend: { user: "mailer", password_file: "./smtp-password", tls_verify: false } });
  await b.enqueue();
  expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(1);
});
