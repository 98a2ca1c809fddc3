// The spool: what sendmail drops, what the importer trusts (nothing it cannot check), and the ledger
// that keeps a crash between the import's commit and the file's unlink from queueing a message twice.
import { afterEach, beforeEach, expect } from "bun:test";
import { chmodSync, linkSync, mkdirSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { recordImported } from "../../src/db/queries/spool.ts";
import { importSpool } from "../../src/intake/spool-import.ts";
import { dropInSpool, readSpoolFile } from "../../src/intake/spool.ts";
import type { Submission } from "../../src/intake/submission.ts";
import { createLogger } from "../../src/log.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";

const submission = (to = "a@example.com", body = "hello"): Submission => ({
  recipients: [to],
  extractRecipients: false,
  via: { protocol: "local" },
  submitter: { uid: 0, login: "root" },
  data: new Uint8Array(Buffer.from(`From: app@example.com\nSubject: s\n\n${body}\n`)),
});

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let spool: string;
  let config: Config;
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", write: (line) => void lines.push(line) });
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect);
    spool = join(tq.dir, "spool");
    mkdirSync(spool);
    chmodSync(spool, 0o3733);
    config = loadConfig({ path: tq.config, env: { MAILER_QUEUE_SPOOL: spool, MAILER_QUEUE_ALIASES: "" } }).config;
    lines.length = 0;
  });
  afterEach(async () => tq?.cleanup());
  const run = async () => importSpool({ config, db: await tq.db(), logger });

  it("sendmail's file is 0640 whatever the umask, and the importer queues it once and removes it", async () => {
    const old = process.umask(0o077);
    let name: string;
    try {
      name = dropInSpool(spool, submission());
    } finally {
      process.umask(old);
    }
    expect(statSync(join(spool, name)).mode & 0o777).toBe(0o640);
    expect(readSpoolFile(spool, name, 1e6).submission.recipients).toEqual(["a@example.com"]);
    expect(await run()).toEqual({ imported: 1, quarantined: 0 });
    expect(readdirSync(spool)).toEqual([]);
    const [row] = await tq.rows();
    expect(row!.envelopeTo).toEqual(["a@example.com"]);
    expect(row!.raw.toString()).toMatch(/^Received: by .* \(mailer, from userid 0 root\); /);
    expect(await run()).toEqual({ imported: 0, quarantined: 0 });
    expect(await tq.rows()).toHaveLength(1);
  });

  it("a file already in the ledger (the importer died after its commit) is removed, not queued again", async () => {
    const name = dropInSpool(spool, submission());
    await recordImported((await tq.db()).kysely, [name]);
    expect(await run()).toEqual({ imported: 0, quarantined: 0 });
    expect(readdirSync(spool)).toEqual([]);
    expect(await tq.rows()).toHaveLength(0);
  });

  it("links, hard links, foreign names and tampered files are set aside or ignored, never followed", async () => {
    const secret = join(tq.dir, "secret");
    writeFileSync(secret, "MAILER-SPOOL 1\n{}\nroot's secret\n");
    const good = dropInSpool(spool, submission("b@example.com"));
    const stamp = good.slice(0, good.indexOf("-"));
    const fake = (n: string) => `${stamp}-${n.repeat(32)}.msg`;
    symlinkSync(secret, join(spool, fake("a")));
    linkSync(join(spool, good), join(spool, fake("b"))); // the good file now has two links
    writeFileSync(join(spool, fake("c")), "MAILER-SPOOL 1\nnot json\nx\n");
    writeFileSync(join(spool, "notes.txt"), "not a spool name");
    expect(await run()).toEqual({ imported: 0, quarantined: 4 });
    const left = readdirSync(spool).sort();
    expect(left.filter((n) => n.endsWith(".bad"))).toHaveLength(4);
    expect(left).toContain("notes.txt");
    expect(await tq.rows()).toHaveLength(0);
    expect(lines.join("\n")).toContain("a symbolic link");
    expect(lines.join("\n")).toContain("links (a hard link");
  });

  it("a message that no longer passes (recipients refused by a changed config) is set aside with the reason", async () => {
    dropInSpool(spool, submission("root"));
    config = { ...config, queue: { ...config.queue, default_domain: "example.org" } };
    // Routing qualifies root; with a bad recipient instead, prepare fails:
    dropInSpool(spool, { ...submission(), recipients: ["bad address@x"] });
    const result = await run();
    expect(result).toEqual({ imported: 1, quarantined: 1 });
    expect((await tq.rows())[0]!.envelopeTo).toEqual(["root@example.org"]);
    expect(lines.join("\n")).toContain("not a valid email address");
  });

  it("a stale temporary file from a sendmail that died mid-write is removed; a fresh one is left", async () => {
    writeFileSync(join(spool, ".abc.tmp"), "half");
    writeFileSync(join(spool, ".def.tmp"), "half");
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(spool, ".abc.tmp"), old, old);
    await run();
    expect(readdirSync(spool)).toEqual([".def.tmp"]);
  });
});
