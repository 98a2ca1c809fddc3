// `mailer sendmail` as cron, PHP and git run it: the compiled binary, a message on stdin, sysexits codes.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { BINARY, runMailer, writeConfig } from "../helpers/cli.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { tempDir } from "../helpers/db.ts";
import { parse, testQueue, type TestQueue } from "../helpers/intake.ts";

const MESSAGE = "From: App <app@example.com>\nTo: a@example.com\nCc: b@example.com\nBcc: secret@example.com\nSubject: Nightly\n\nAll good.\n";

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect);
  });
  afterEach(async () => tq?.cleanup());
  const sendmail = (args: string[], stdin: string | Uint8Array, env: Record<string, string> = {}) =>
    runMailer(["sendmail", ...args], { stdin, cwd: tq.dir, env: { MAILER_CONFIG: tq.config, ...env } });

  it("-t takes recipients from To/Cc/Bcc (plus arguments), removes Bcc from the stored text, and is silent", async () => {
    const result = await sendmail(["-t", "-oi", "extra@example.com"], MESSAGE);
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    const [row] = await tq.rows();
    expect(row!.envelopeTo).toEqual(["extra@example.com", "a@example.com", "b@example.com", "secret@example.com"]);
    expect(row!.envelopeFrom).toBe("app@example.com");
    expect(row!.raw.toString("latin1")).not.toContain("secret@example.com");
    expect((await parse(row!.raw)).subject).toBe("Nightly");
  });

  it("without -t the arguments are the envelope; a lone dot ends the input unless -i", async () => {
    expect((await sendmail(["x@example.com"], MESSAGE + ".\nnot part of it\n")).code).toBe(0);
    expect((await sendmail(["-i", "y@example.com"], MESSAGE + ".\nstill part of it\n")).code).toBe(0);
    const [cut, kept] = await tq.rows();
    expect(cut!.envelopeTo).toEqual(["x@example.com"]);
    expect(cut!.raw.toString()).toEndWith("All good.\r\n");
    expect(kept!.envelopeTo).toEqual(["y@example.com"]);
    expect(kept!.raw.toString()).toEndWith("All good.\r\n.\r\nstill part of it\r\n");
  });

  it("-f sets the envelope sender, -F the From name of a message without From; legacy flags are ignored", async () => {
    const input = "Subject: cron\nX-Mailer-Priority: high\n\noutput\n";
    const result = await sendmail(["-odi", "-oem", "-B8BITMIME", "-FCron Daemon", "-f", "root@example.com", "ops@example.com"], input);
    expect(result.code).toBe(0);
    const [row] = await tq.rows();
    expect(row!.envelopeFrom).toBe("root@example.com");
    expect(row!.priority).toBe(1);
    expect((await parse(row!.raw)).from?.text).toBe('"Cron Daemon" <root@example.com>');
  });

  it("drops don't-send recipients; when none is left, exits 65 and queues nothing", async () => {
    await (await tq.db()).kysely.insertInto("mailer_dontsendentry").values({ to_address: "B@example.com" }).execute();
    expect((await sendmail(["-t"], MESSAGE)).code).toBe(0);
    const none = await sendmail(["b@example.com"], MESSAGE);
    expect(none.code).toBe(65);
    expect(none.stderr).toContain("not queued: every recipient is on the don't-send list (b@example.com)");
    const rows = await tq.rows();
    expect(rows.map((r) => r.envelopeTo)).toEqual([["a@example.com", "secret@example.com"]]);
  });

  it("exits 65 for a line break in -F or -f (header injection) and for a message over queue.max_size", async () => {
    expect((await sendmail(["-F", "Name\r\nBcc: victim@example.com", "a@example.com"], "Subject: x\n\nbody\n")).code).toBe(65);
    expect((await sendmail(["-f", "a@example.com\nRCPT TO:<v@example.com>", "b@example.com"], MESSAGE)).code).toBe(65);
    const big = await sendmail(["-t"], MESSAGE + "x".repeat(2000) + "\n", { MAILER_QUEUE_MAX_SIZE: "1000" });
    expect([big.code, big.stderr]).toEqual([65, expect.stringContaining("over the limit of 1000 bytes")]);
    expect(await tq.rows()).toHaveLength(0);
  });

  it("stores an 8-bit body byte for byte", async () => {
    const body = Buffer.from("caf\xe9 \xff\x80\r\n", "latin1");
    const input = Buffer.concat([Buffer.from("From: a@example.com\r\nTo: b@example.com\r\n\r\n"), body]);
    expect((await sendmail(["-t"], new Uint8Array(input))).code).toBe(0);
    const [row] = await tq.rows();
    expect(row!.raw.subarray(-body.length).equals(body)).toBe(true);
  });

  it("exits 65 for no recipients, an unparseable header block, NUL bytes or a bad X-Mailer-Priority; nothing is queued", async () => {
    for (const [args, stdin] of [[["-t"], "From: a@example.com\nSubject: x\n\nbody\n"], [["a@example.com"], "not a header line\n\nbody\n"], [["a@example.com"], "From: a@example.com\n\nnul \0 byte\n"], [["-t"], "From: a@example.com\nTo: b@example.com\nX-Mailer-Priority: urgent\n\nx\n"]] as const) {
      const result = await sendmail([...args], stdin);
      expect(result.code).toBe(65);
      expect(result.stderr).toMatch(/^mailer: /);
    }
    expect(await tq.rows()).toHaveLength(0);
  });
});

describe("sendmail", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.cleanup());
  const run = (args: string[], env: Record<string, string> = {}, stdin = MESSAGE) =>
    runMailer(["sendmail", ...args], { stdin, cwd: dir.path, env });

  test("the same binary invoked through a link named sendmail behaves the same", async () => {
    const config = writeConfig(dir.path, `[database]\nurl = "sqlite:${join(dir.path, "q.db")}"\n`);
    mkdirSync(join(dir.path, "bin"));
    const link = join(dir.path, "bin", "sendmail");
    symlinkSync(BINARY, link);
    const result = await runMailer(["-t", "-i"], { binary: link, stdin: MESSAGE, cwd: dir.path, env: { MAILER_CONFIG: config } });
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    const status = await runMailer(["status", "--json", "--config", config]);
    expect(JSON.parse(status.stdout).queued).toBe(1);
    expect((await runMailer(["-Z"], { binary: link, stdin: "", cwd: dir.path, env: { MAILER_CONFIG: config } })).code).toBe(64);
  });

  test("exits 64 for an unknown flag or an unsupported mode", async () => {
    for (const flag of ["-Z", "-bd", "-bv", "--frobnicate"]) {
      const result = await run([flag]);
      expect(result.code).toBe(64);
      expect(result.stderr).toContain("sendmail:");
    }
  });

  test("exits 78 without a config file (no stray database in the caller's directory) and for a bad one", async () => {
    const none = await run(["-t"]);
    expect(none.code).toBe(78);
    expect(none.stderr).toContain("no config file");
    const bad = writeConfig(dir.path, "[database]\nurl = 5\n", "bad.toml");
    expect((await run(["-t"], { MAILER_CONFIG: bad })).code).toBe(78);
    expect((await run(["-C", bad, "-t"])).code).toBe(78);
  });

  test("exits 75 when the database cannot be reached: PostgreSQL down, SQLite directory missing, SQLite locked", async () => {
    const pg = writeConfig(dir.path, `[database]\nurl = "postgres://postgres@127.0.0.1:1/mailer"\n`, "pg.toml");
    const missing = writeConfig(dir.path, `[database]\nurl = "sqlite:${join(dir.path, "gone", "q.db")}"\n`, "missing.toml");
    for (const config of [pg, missing]) {
      const result = await run(["-t"], { MAILER_CONFIG: config });
      expect(result.code).toBe(75);
      expect(result.stderr).toMatch(/unavailable/);
    }
    const path = join(dir.path, "locked.db");
    const locked = writeConfig(dir.path, `[database]\nurl = "sqlite:${path}"\nbusy_timeout = 200\n`, "locked.toml");
    expect((await run(["-t"], { MAILER_CONFIG: locked })).code).toBe(0);
    const { Database } = await import("bun:sqlite");
    const holder = new Database(path);
    holder.run("begin exclusive");
    try {
      const result = await run(["-t"], { MAILER_CONFIG: locked });
      expect(result.code).toBe(75);
    } finally {
      holder.run("rollback");
      holder.close();
    }
  });
});

// Standard input is read straight from the descriptor; one that would block (its parent set
// O_NONBLOCK on the pipe they share) is read to its end as a stream instead, however slowly it comes.
const SLOW_WRITER = `
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)
child = subprocess.Popen(sys.argv[1:], stdin=r)
os.close(r)
time.sleep(0.3)
os.write(w, b"From: app@example.com\\nTo: a@example.com\\nSubject: slow\\n\\nfirst half, ")
time.sleep(0.2)
os.write(w, b"second half\\n")
os.close(w)
sys.exit(child.wait())
`;

test("sendmail reads a non-blocking stdin that is empty at first to its end", async () => {
  const tq = await testQueue("sqlite");
  try {
    const proc = Bun.spawn(["python3", "-c", SLOW_WRITER, BINARY, "sendmail", "-t", "-oi"], {
      cwd: tq.dir,
      env: { ...process.env, MAILER_CONFIG: tq.config },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const [row] = await tq.rows();
    expect(row!.envelopeTo).toEqual(["a@example.com"]);
    expect(row!.raw.toString()).toEndWith("\r\n\r\nfirst half, second half\r\n");
  } finally {
    await tq.cleanup();
  }
});
