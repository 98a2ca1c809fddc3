// `mailer queue` through the compiled binary: from flags (composed by nodemailer) or a message on stdin.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultMailDomain, loginOf } from "../../src/queue/host-identity.ts";
import { runMailer, writeConfig } from "../helpers/cli.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { tempDir } from "../helpers/db.ts";
import { addresses, parse, testQueue, type TestQueue } from "../helpers/intake.ts";

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect, "[queue]\nmax_size = 20000\n");
  });
  afterEach(async () => tq?.cleanup());
  const queue = (args: string[], stdin?: string) => runMailer(["queue", "--config", tq.config, ...args], { stdin, cwd: tq.dir });

  it("queues a message built from flags and prints its id", async () => {
    const attachment = join(tq.dir, "notes.txt");
    writeFileSync(attachment, "attached text\n");
    const result = await queue([
      "--from", "App <app@example.com>", "--to", "a@example.com", "--to", "b@example.com, c@example.com",
      "--cc", "d@example.com", "--bcc", "e@example.com", "--reply-to", "help@example.com",
      "--subject", "0x10", "--text", "plain", "--html", "<b>bold</b>", "--attach", attachment,
      "--header", "X-Ticket: 42", "--priority", "high",
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const [row] = await tq.rows();
    expect(result.stdout).toBe(`${row!.id}\n`);
    expect(row!.priority).toBe(1);
    expect(row!.envelopeTo).toEqual(["a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"]);
    const mail = await parse(row!.raw);
    expect(mail.subject).toBe("0x10");
    expect(mail.text?.trim()).toBe("plain");
    expect(mail.html).toContain("<b>bold</b>");
    expect(addresses(mail.replyTo)).toEqual(["help@example.com"]);
    expect(mail.headers.get("x-ticket")).toBe("42");
    expect(mail.headers.has("bcc")).toBe(false);
    expect(mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([["notes.txt", "attached text\n"]]);
  });

  it("queues a complete message from stdin: envelope from its headers, or from --to/--from; --header and X-Mailer-Priority apply", async () => {
    const raw = "From: a@example.com\nTo: b@example.com\nBcc: hidden@example.com\nX-Mailer-Priority: low\nSubject: piped\n\nbody\n";
    expect((await queue([], raw)).code).toBe(0);
    expect((await queue(["--to", "other@example.com", "--from", "bounce@example.com", "--header", "X-Source: cron", "--priority", "high"], raw)).code).toBe(0);
    const [fromHeaders, given] = await tq.rows();
    expect([fromHeaders!.envelopeTo, fromHeaders!.priority]).toEqual([["b@example.com", "hidden@example.com"], 3]);
    expect(fromHeaders!.raw.toString()).not.toMatch(/hidden@example.com|X-Mailer-Priority/);
    expect([given!.envelopeTo, given!.envelopeFrom, given!.priority]).toEqual([["other@example.com"], "bounce@example.com", 1]);
    expect(given!.raw.toString()).toStartWith("X-Source: cron\r\n");
  });

  it("--text - reads the body from stdin", async () => {
    expect((await queue(["--from", "a@example.com", "--to", "b@example.com", "--subject", "s", "--text", "-"], "line one\nline two\n")).code).toBe(0);
    const [row] = await tq.rows();
    expect((await parse(row!.raw)).text).toBe("line one\nline two\n");
  });

  it("--text - keeps a body that is not UTF-8 byte for byte, labelled unknown-8bit (RFC 1428)", async () => {
    const body = Buffer.from("caf\xe9 \xff\n", "latin1");
    const result = await runMailer(["queue", "--config", tq.config, "--from", "a@example.com", "--to", "b@example.com", "--subject", "s", "--text", "-"], { stdin: new Uint8Array(body), cwd: tq.dir });
    expect(result.code).toBe(0);
    const [row] = await tq.rows();
    const text = row!.raw.toString("latin1");
    expect(text).toContain("Content-Type: text/plain; charset=unknown-8bit");
    const encoded = text.split("\r\n\r\n")[1]!;
    const decoded = Buffer.from(encoded.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1");
    expect(decoded.toString("latin1").replace(/\r\n/g, "\n")).toBe(body.toString("latin1"));
  });

  it("refuses a missing attachment (65, naming it), header injection (65), a bad address (65), oversize (65); nothing queued", async () => {
    const base = ["--from", "a@example.com", "--to", "b@example.com", "--text", "x"];
    const missing = await queue([...base, "--attach", "no-such-file.pdf"]);
    expect([missing.code, missing.stderr]).toEqual([65, "mailer: --attach no-such-file.pdf: no such file\n"]);
    expect((await queue([...base, "--subject", "hi\r\nBcc: victim@example.com"])).code).toBe(65);
    expect((await queue([...base, "--header", "X-A: 1\nBcc: victim@example.com"])).code).toBe(65);
    expect((await queue(["--from", "a@example.com", "--to", "not an address", "--text", "x"])).code).toBe(65);
    expect((await queue(["--from", "a@example.com", "--to", "b@example.com", "--text", "x".repeat(30000)])).code).toBe(65);
    expect(await tq.rows()).toHaveLength(0);
  });

  it("with no --from, the sender is [queue] default_from, else the invoking login (from its uid) at the mail domain", async () => {
    expect((await queue(["--to", "b@example.com", "--text", "no sender"])).code).toBe(0);
    const login = `${loginOf(process.getuid!())}@${defaultMailDomain()}`;
    expect((await tq.rows()).map((r) => r.envelopeFrom)).toEqual([login]);
  });

  it("a recipient on the don't-send list is dropped; with none left, 65 and nothing queued", async () => {
    expect((await runMailer(["dont-send", "add", "Gone <GONE@example.com>", "--config", tq.config])).code).toBe(0);
    const none = await queue(["--from", "a@example.com", "--to", "gone@example.com", "--text", "x"]);
    expect(none.code).toBe(65);
    expect(none.stdout).toBe("");
    expect((await queue(["--from", "a@example.com", "--to", "gone@example.com, kept@example.com", "--text", "x"])).code).toBe(0);
    expect((await tq.rows()).map((r) => r.envelopeTo)).toEqual([["kept@example.com"]]);
  });
});

describe("queue exit codes", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.cleanup());

  test("64 for an unknown flag or a bad --priority; 78 for a bad config; 75 for an unreachable database", async () => {
    const ok = writeConfig(dir.path, `[database]\nurl = "sqlite:${join(dir.path, "q.db")}"\n`);
    expect((await runMailer(["queue", "--config", ok, "--bogus"])).code).toBe(64);
    expect((await runMailer(["queue", "--config", ok, "--priority", "urgent", "--text", "x"])).code).toBe(64);
    const bad = writeConfig(dir.path, "[database]\nurll = 1\n", "bad.toml");
    const config = await runMailer(["queue", "--config", bad, "--text", "x"]);
    expect([config.code, config.stderr]).toEqual([78, expect.stringContaining("did you mean database.url?")]);
    const down = writeConfig(dir.path, `[database]\nurl = "postgres://postgres@127.0.0.1:1/mailer"\n`, "down.toml");
    const result = await runMailer(["queue", "--config", down, "--from", "a@example.com", "--to", "b@example.com", "--text", "x"]);
    expect(result.code).toBe(75);
  });
});
