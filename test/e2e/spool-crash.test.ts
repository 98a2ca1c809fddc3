// SIGKILL of the spool importer (a send-mail pass) at any moment loses and duplicates nothing: after
// every kill, each message is either still a spool file or queued exactly once; the run that finally
// finishes leaves every message queued once and the spool empty. Real processes, killed for real.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { dropInSpool } from "../../src/intake/spool.ts";
import { spawnMailer, runMailer, writeConfig } from "../helpers/cli.ts";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { tempDir } from "../helpers/db.ts";

const TOTAL = 4000;

let dir: ReturnType<typeof tempDir>;
let spool: string;
let config: string;
let db: Database | null = null;
beforeEach(() => {
  dir = tempDir();
  spool = join(dir.path, "spool");
  mkdirSync(spool);
  chmodSync(spool, 0o3733);
  // max_batch = 0: a pass imports the spool and sends nothing, so the queue table is what we count.
  config = writeConfig(
    dir.path,
    `[database]\nurl = "sqlite:${dir.path}/q.db"\n[backend]\ntype = "null"\n[delivery]\nmax_batch = 0\n` +
      `[queue]\nspool = "${spool}"\naliases = ""\ndefault_domain = "example.org"\n[lock]\nuse_file_lock = false\n`,
  );
});
afterEach(async () => {
  await db?.close();
  db = null;
  dir.cleanup();
});

/** Subjects queued, and how many times each. */
async function queued(): Promise<Map<string, number>> {
  db ??= await openDatabase(`sqlite:${dir.path}/q.db`);
  const rows = await db.kysely.selectFrom("mailer_message").select("subject").execute();
  const counts = new Map<string, number>();
  for (const { subject } of rows) counts.set(subject, (counts.get(subject) ?? 0) + 1);
  return counts;
}

/** Spool files not yet queued. A file whose name is in the ledger was queued by an importer killed
 * before it could remove the file: the next import removes it without queueing it again. */
async function waiting(): Promise<number> {
  const ledger = new Set((await db!.kysely.selectFrom("mailer_spoolimport").select("name").execute()).map((r) => r.name));
  return readdirSync(spool).filter((n) => n.endsWith(".msg") && !ledger.has(n)).length;
}

test("SIGKILL mid-import, again and again: every message ends up queued exactly once", async () => {
  expect((await runMailer(["migrate", "--config", config])).code).toBe(0);
  for (let i = 0; i < TOTAL; i++) {
    dropInSpool(spool, {
      recipients: ["ops@example.com"],
      extractRecipients: false,
      via: { protocol: "local" },
      submitter: { uid: 0, login: "root" },
      data: new Uint8Array(Buffer.from(`From: app@example.com\nSubject: seq-${i}\n\nbody ${i}\n`)),
    });
  }
  let midImport = 0;
  for (const delayMs of [150, 250, 350, 450, 600, 800]) {
    const proc = spawnMailer(["send-mail", "--config", config]);
    await Bun.sleep(delayMs);
    proc.kill("SIGKILL");
    await proc.exited;
    const counts = await queued();
    const left = await waiting();
    // The invariant, wherever the kill landed: nothing lost, nothing twice.
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(counts.size + left).toBe(TOTAL);
    if (counts.size > 0 && left > 0) midImport++;
  }
  // At least one kill landed while the spool was being imported (the import takes far longer than
  // the first delay), so the loop above did exercise the window it is about.
  expect(midImport).toBeGreaterThan(0);
  const finish = await runMailer(["send-mail", "--config", config]);
  expect(finish.code).toBe(0);
  const counts = await queued();
  expect(counts.size).toBe(TOTAL);
  expect([...counts.values()].every((n) => n === 1)).toBe(true);
  expect(readdirSync(spool)).toEqual([]);
}, 120_000);
