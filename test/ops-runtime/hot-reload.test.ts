// Config hot reload on a running `runmailer`: a valid new file applies from the next pass, an invalid
// one is reported and the running config kept, a database change reconnects cleanly, and SIGHUP
// reloads what the file watch cannot see (a rotated password_file).
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { nextPassAfter, runtimeBench, toml, type RuntimeBench } from "./helpers.ts";

let b: RuntimeBench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

test("a valid change (backend switched to another server) applies from the next pass", async () => {
  b = await runtimeBench();
  const [a, other] = b.sinks;
  const q = await b.queue("queue");
  b.write(toml(q.url, a));
  const w = b.start(["runmailer", "--log-level", "debug"]);
  await w.stderr.waitFor(/runmailer started/);
  await q.enqueue("before");
  await a.waitFor(1);

  b.write(toml(q.url, other).replace("empty_queue_sleep = 0.2", "empty_queue_sleep = 0.2\nmax_batch = 50"));
  const line = await w.stderr.waitFor(/config reloaded/);
  expect(line).toContain(`backend.port: ${a.port} -> ${other.port}`);
  expect(line).toContain("delivery.max_batch: (none) -> 50");
  await nextPassAfter(w, /config reloaded/);
  await q.enqueue("after");
  await other.waitFor(1);
  expect(other.received.map((m) => m.subject)).toEqual(["after"]);
  expect(a.received.map((m) => m.subject)).toEqual(["before"]);
});

test("an invalid file is reported and the running config kept; fixing it applies", async () => {
  b = await runtimeBench();
  const [a, other] = b.sinks;
  const q = await b.queue("queue");
  b.write(toml(q.url, a));
  const w = b.start(["runmailer", "--log-level", "debug"]);
  await w.stderr.waitFor(/runmailer started/);

  // Saved the way editors save (rename over the file): the watch must still see it.
  b.write(toml(q.url, other).replace("timeout = 2", "timeout = 2\nmax_batchh = 3"), true);
  const problem = await w.stderr.waitFor(/config invalid, keeping the running config/);
  expect(problem).toContain("unknown key backend.max_batchh");
  await q.enqueue("kept");
  await a.waitFor(1);
  expect(other.received).toHaveLength(0);

  b.write(toml(q.url, other), true);
  await nextPassAfter(w, /config reloaded/);
  await q.enqueue("fixed");
  await other.waitFor(1);
  expect(w.proc.exitCode).toBeNull();
  w.proc.kill("SIGTERM");
  expect(await w.proc.exited).toBe(0);
});

test("a database change switches queues cleanly; one that cannot be opened keeps the old one", async () => {
  b = await runtimeBench();
  const [a] = b.sinks;
  const first = await b.queue("first");
  const second = await b.queue("second");
  await second.enqueue("waiting in the second queue");
  b.write(toml(first.url, a));
  const w = b.start(["runmailer", "--log-level", "debug"]);
  await w.stderr.waitFor(/runmailer started/);
  await first.enqueue("from the first queue");
  await a.waitFor(1);

  b.write(toml(second.url, a), true);
  await w.stderr.waitFor(/switched to database sqlite:.*second\.db/);
  await a.waitFor(2);
  expect(a.received.map((m) => m.subject)).toEqual(["from the first queue", "waiting in the second queue"]);

  // Unreachable: refused at once (nothing listens on port 1). Its password must not be logged.
  b.write(toml("postgres://mailer:db-secret-pw@127.0.0.1:1/mail", a), true);
  const refused = await w.stderr.waitFor(/config not applied, keeping the running config/);
  expect(refused).toContain("cannot open the new database");
  await first.enqueue("left in the first queue");
  await second.enqueue("second queue still served");
  await a.waitFor(3);
  expect(a.received[2]!.subject).toBe("second queue still served");
  expect(await first.statuses()).toEqual(["queued"]);

  w.proc.kill("SIGTERM");
  expect(await w.proc.exited).toBe(0);
  expect(w.stderr.lines.join("\n")).not.toContain("db-secret-pw");
});

test("SIGHUP reloads: a rotated password_file applies without a restart, and no password is logged", async () => {
  // The sink's credentials are changed in place below, as a server's would be rotated.
  const auth = { user: "mailer", pass: "first-secret-1" };
  b = await runtimeBench({ auth, tls: "starttls" });
  const [a] = b.sinks;
  const q = await b.queue("queue");
  const secretFile = join(b.dir, "smtp-password");
  writeFileSync(secretFile, "first-secret-1\n");
  b.write(toml(q.url, a, `user = "mailer"\npassword_file = ${JSON.stringify(secretFile)}\ntls_verify = false`));
  const w = b.start(["runmailer", "--log-level", "debug"]);
  await w.stderr.waitFor(/runmailer started/);
  await q.enqueue("with the first password");
  await a.waitFor(1);

  // The file watch covers mailer.toml only: the secret file's change needs the signal.
  auth.pass = "second-secret-2";
  writeFileSync(secretFile, "second-secret-2\n");
  w.proc.kill("SIGHUP");
  await w.stderr.waitFor(/SIGHUP received/);
  const line = await w.stderr.waitFor(/config reloaded/);
  expect(line).toContain("backend.password (changed)");
  await nextPassAfter(w, /config reloaded/);
  await q.enqueue("with the second password");
  await a.waitFor(2);
  expect(a.received[1]!.subject).toBe("with the second password");
  w.proc.kill("SIGTERM");
  expect(await w.proc.exited).toBe(0);

  const output = w.stderr.lines.join("\n");
  expect(output).toMatch(/nodemailer: AUTH PLAIN/); // the SMTP conversation was logged (debug)...
  for (const secret of ["first-secret-1", "second-secret-2"]) {
    expect(output).not.toContain(secret); // ...without the password, raw or base64
    expect(output).not.toContain(Buffer.from(secret).toString("base64"));
    expect(output).not.toContain(Buffer.from(`\0mailer\0${secret}`).toString("base64"));
  }
});
