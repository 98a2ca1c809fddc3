// The embedded database misbehaving under the compiled binary: another process holding the write
// lock (busy), a full disk, a database the process may not write. Each must give a clear error (exit
// 75, "try again") or be waited out — and never lose or corrupt what is already queued.
import { Database as Sqlite } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testIf } from "../helpers/dialects.ts";
import { BINARY, spawnMailer } from "../helpers/cli.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { readLines } from "../helpers/lines.ts";
import { deliveries } from "../helpers/smtp-sink.ts";

let b: Bench | null = null;
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) c();
  await b?.cleanup();
  b = null;
});

/** Whether this machine lets us mount a tmpfs (root outside a locked-down container), asked once. */
const canMountTmpfs = (() => {
  const probe = mkdtempSync(join(tmpdir(), "mailer-tmpfs-probe-"));
  try {
    const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]);
    if (mounted.exitCode !== 0) return { ok: false, why: mounted.stderr.toString().trim() || `exit ${mounted.exitCode}` };
    Bun.spawnSync(["umount", probe]);
    return { ok: true, why: "" };
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();

const dbPath = (bench: Bench) => bench.url.slice("sqlite:".length);

/** Another process's write transaction on the queue file (the test process is that other process). */
function holdWriteLock(bench: Bench) {
  const other = new Sqlite(dbPath(bench));
  other.exec("PRAGMA busy_timeout = 10000");
  other.exec("BEGIN IMMEDIATE");
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    other.exec("COMMIT");
    other.close();
  };
  cleanups.push(release);
  return { release };
}

const queueArgs = (subject: string) => ["queue", "--from", "app@example.com", "--to", "rcpt@example.com", "--subject", subject, "--text", "hi"];

describe("sqlite busy", () => {
  test("an intake waits (busy_timeout) for a concurrent writer and then queues: not failed", async () => {
    b = await bench("sqlite");
    await b.enqueue({ subject: "already queued" });
    const lock = holdWriteLock(b);
    const proc = b.spawn(queueArgs("while busy"));
    let released = false;
    // The queue command cannot finish while the lock is held; give it a moment to be waiting on it.
    const releaser = Bun.sleep(1000).then(() => {
      released = true;
      lock.release();
    });
    const code = await proc.exited;
    expect({ code, releasedFirst: released }).toEqual({ code: 0, releasedFirst: true });
    await releaser;
    expect((await b.messages()).map((r) => r.subject)).toEqual(["already queued", "while busy"]);
  });

  test("past busy_timeout an intake exits 75 (try again) with a clear error, and loses nothing", async () => {
    b = await bench("sqlite");
    await b.enqueue({ subject: "already queued" });
    const lock = holdWriteLock(b);
    const run = await b.run(queueArgs("too busy"), { MAILER_DATABASE_BUSY_TIMEOUT: "200" });
    lock.release();
    expect(run.code).toBe(75);
    expect(run.stderr).toMatch(/^mailer: database .* unavailable: .*(locked|busy)/m);
    expect(run.stderr).not.toContain("    at ");
    expect((await b.messages()).map((r) => r.subject)).toEqual(["already queued"]);
    expect((await b.run(queueArgs("again"))).code).toBe(0);
  });

  test("send-mail waits for a concurrent writer, then sends everything once", async () => {
    b = await bench("sqlite");
    for (let i = 0; i < 3; i++) await b.enqueue();
    const lock = holdWriteLock(b);
    const proc = b.spawn(["send-mail"]);
    await Bun.sleep(1000);
    expect(b.sink.received).toHaveLength(0);
    lock.release();
    expect(await proc.exited).toBe(0);
    expect(b.sink.received).toHaveLength(3);
    expect(await b.messages()).toHaveLength(0);
  });

  test("a busy database while recording a batch is logged and retried: recorded once, nothing sent twice", async () => {
    b = await bench("sqlite", { delivery: { claim_batch: 3 } });
    for (let i = 0; i < 3; i++) await b.enqueue();
    let lock: { release(): void } | null = null;
    // The last send of the batch: take the write lock before answering it, so the batch's record meets it.
    b.sink.onMessage = () => {
      if (b!.sink.received.length === 2) lock = holdWriteLock(b!);
      return undefined;
    };
    // A short busy_timeout, so the first try gives up quickly.
    const proc = spawnMailer(["send-mail", "--config", b.configPath], { cwd: b.dir, env: { MAILER_DATABASE_BUSY_TIMEOUT: "300" } });
    const stderr = readLines(proc.stderr as ReadableStream<Uint8Array>);
    await stderr.waitFor(/recording a batch failed, retrying/);
    lock!.release();
    expect(await proc.exited).toBe(0);
    expect(b.sink.received).toHaveLength(3);
    expect(await b.messages()).toHaveLength(0);
    expect((await b.logs()).map((l) => l.result)).toEqual(["success", "success", "success"]);
  }, 30_000);

  test("a database busy for longer than the retries: exit 75, and the next run delivers what was not recorded", async () => {
    b = await bench("sqlite", { delivery: { claim_batch: 3 } });
    for (let i = 0; i < 3; i++) await b.enqueue();
    b.sink.onMessage = () => {
      if (b!.sink.received.length === 2) holdWriteLock(b!);
      return undefined;
    };
    const run = await b.run(["send-mail"], { MAILER_DATABASE_BUSY_TIMEOUT: "100" });
    expect(run.code).toBe(75);
    expect(run.stderr).toMatch(/^mailer: database .* unavailable/m);
    for (const c of cleanups.splice(0)) c();
    b.sink.onMessage = () => undefined;
    expect((await b.run(["send-mail"])).code).toBe(0);
    // At least once: the three were sent, their outcome could not be written, so they went again.
    expect([...deliveries(b.sink.received).values()]).toEqual([2, 2, 2]);
    expect(await b.messages()).toHaveLength(0);
  }, 30_000);
});

/** Runs the binary with a file-size limit: past it a write fails (EFBIG) as on a full disk.
 * SIGXFSZ is ignored (inherited through exec), so the process sees the error instead of dying. */
function runWithFileLimit(bench: Bench, bytes: number, args: string[], stdin: string) {
  const script = `trap '' XFSZ; exec prlimit --fsize=${bytes} "$@"`;
  return Bun.spawn(["sh", "-c", script, "sh", BINARY, ...args, "--config", bench.configPath], {
    cwd: bench.dir,
    stdin: new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
}

describe("sqlite disk full and read-only", () => {
  test("a write past the space left is a clear error (75) and loses nothing already queued", async () => {
    b = await bench("sqlite");
    for (let i = 0; i < 3; i++) await b.enqueue({ subject: `kept-${i}` });
    await b.db.close();
    const big = "y".repeat(400_000);
    const proc = runWithFileLimit(b, 64 * 1024, [...queueArgs("too big for the disk").slice(0, -1), "-"], big);
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect({ code, stderr }).toEqual({ code: 75, stderr: expect.any(String) });
    expect(stderr).toMatch(/^mailer: database .* unavailable: .*(disk|I\/O)/im);
    expect(stderr).not.toContain("    at ");
    const check = new Sqlite(dbPath(b), { readonly: true });
    expect(check.query("pragma integrity_check").get()).toEqual({ integrity_check: "ok" });
    expect(check.query("select subject from mailer_message order by id").all()).toEqual([
      { subject: "kept-0" }, { subject: "kept-1" }, { subject: "kept-2" },
    ]);
    check.close();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout).sent).toBe(3);
  });

  testIf(canMountTmpfs.ok, `mounting a tmpfs is not permitted: ${canMountTmpfs.why}`)("a full filesystem (tmpfs): intake and send-mail exit 75; after space is freed all is delivered", async () => {
    b = await bench("sqlite");
    const mount = join(b.dir, "small");
    mkdirSync(mount);
    const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount]);
    expect(mounted.exitCode).toBe(0);
    cleanups.push(() => void Bun.spawnSync(["umount", "-l", mount]));
    const url = `sqlite:${join(mount, "mailer.db")}`;
    b.configure();
    writeFileSync(b.configPath, `[database]\nurl = "${url}"\n` + (await Bun.file(b.configPath).text()).replace(/\[database\]\nurl = .*\n/, ""));
    expect((await b.run(["migrate"])).code).toBe(0);
    for (let i = 0; i < 3; i++) expect((await b.run(queueArgs(`kept-${i}`))).code).toBe(0);
    // Fill what is left of the filesystem.
    const filler = join(mount, "filler");
    try {
      for (let i = 0; ; i++) writeFileSync(filler, Buffer.alloc(64 * 1024), { flag: "a" });
    } catch {
      // ENOSPC: full
    }
    const intake = await b.run(queueArgs("no room"));
    expect({ code: intake.code, stderr: intake.stderr }).toEqual({ code: 75, stderr: expect.any(String) });
    expect(intake.stderr).toMatch(/^mailer: database .* unavailable: .*(full|disk|I\/O)/im);
    // Even reading needs room for SQLite's shared-memory file: status says so plainly, too.
    const status = await b.run(["status", "--json"]);
    if (status.code !== 0) expect(status.stderr).toMatch(/^mailer: database .* unavailable/m);
    else expect(JSON.parse(status.stdout).queued).toBe(3);
    const sending = await b.run(["send-mail"]);
    expect(sending.code).toBe(75);
    expect(b.sink.received).toHaveLength(0);
    rmSync(filler);
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout).sent).toBe(3);
    expect(b.sink.received.map((m) => m.subject)).toEqual(["kept-0", "kept-1", "kept-2"]);
  });

  test("a database the process may not write: clear error (77, permission denied), nothing sent, queue intact", async () => {
    b = await bench("sqlite");
    for (let i = 0; i < 2; i++) await b.enqueue({ subject: `kept-${i}` });
    await b.db.close();
    const asRoot = process.getuid?.() === 0;
    // root writes anything: run the binary as nobody instead. Otherwise drop our own write permission.
    // nobody may read the directory, the config and the database (root's, mode 644), not write them.
    if (asRoot) chmodSync(b.dir, 0o755);
    else chmodSync(dbPath(b), 0o444);
    cleanups.push(() => chmodSync(dbPath(b!), 0o644));
    const wrap = asRoot ? ["runuser", "-u", "nobody", "--"] : [];
    const run = async (args: string[]) => {
      const proc = Bun.spawn([...wrap, BINARY, ...args, "--config", b!.configPath], { cwd: "/", stdout: "pipe", stderr: "pipe" });
      const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      return { code, stdout, stderr };
    };
    const intake = await run(queueArgs("refused"));
    // Not 75: retrying as the same user would never help (the spool is how such a user submits).
    expect(intake.code).toBe(77);
    expect(intake.stderr).toMatch(/^mailer: permission denied: this user \(uid \d+\) may not open the queue database /);
    expect(intake.stderr).not.toContain("    at ");
    const sending = await run(["send-mail"]);
    expect(sending.code).toBe(77);
    expect(b.sink.received).toHaveLength(0);
    const check = new Sqlite(dbPath(b), { readonly: true });
    expect(check.query("select subject, status, claimed_by from mailer_message order by id").all()).toEqual([
      { subject: "kept-0", status: "queued", claimed_by: null },
      { subject: "kept-1", status: "queued", claimed_by: null },
    ]);
    check.close();
  });
});
