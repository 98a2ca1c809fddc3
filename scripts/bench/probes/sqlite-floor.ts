// Probe: the floor under a bulk enqueue on SQLite. The bench's messages inserted with bare bun:sqlite
// into a table shaped like mailer_message (same columns, checks and indexes, 8 KiB pages, WAL), 500
// rows per INSERT and per transaction as enqueue_batch_size does. No parsing, no validation: what is
// left of an enqueue once mailer's own work is taken away.
//
//   bun scripts/bench/probes/sqlite-floor.ts [count=10000] [--random-ids]
//
// --random-ids: each row gets a random <uuid@host> Message-ID, as composed messages do (the bench's
// raw messages number theirs in order), so the message_id index takes its inserts at random places.
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchMessages } from "../messages.ts";

const count = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 10_000);
const randomIds = process.argv.includes("--random-ids");
const dir = mkdtempSync(join(tmpdir(), "mailer-floor-"));
try {
  const db = new Database(join(dir, "floor.db"));
  db.exec("PRAGMA page_size = 8192");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`CREATE TABLE mailer_message (id integer primary key autoincrement, message_data blob not null,
    message_id text default '' not null, subject text default '' not null, envelope_from text default '' not null,
    envelope_to text not null, priority integer default 2 not null check (priority in (1, 2, 3)),
    status text default 'queued' not null check (status in ('queued', 'deferred', 'failed')),
    when_added text default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) not null, retry_count integer default 0 not null,
    next_attempt_at text, last_error text default '' not null, claimed_by text, lease_until text)`);
  db.exec("CREATE INDEX mailer_message_queue_idx ON mailer_message (status, priority, when_added, id)");
  db.exec("CREATE INDEX mailer_message_message_id_idx ON mailer_message (message_id)");
  db.exec("CREATE INDEX mailer_message_claimed_by_idx ON mailer_message (claimed_by) WHERE claimed_by IS NOT NULL");
  const rows = benchMessages(count).map((m) => ({
    data: Buffer.from(m.raw, "utf8"),
    messageId: randomIds ? `<${crypto.randomUUID()}@example.test>` : (/^Message-ID: (.*)\r$/m.exec(m.raw)?.[1] ?? ""),
    from: m.envelope.from,
    to: m.envelope.to.join(", "),
  }));
  const BATCH = 500;
  const insert = (n: number) =>
    db.prepare(`INSERT INTO mailer_message (message_data, message_id, subject, envelope_from, envelope_to, priority) VALUES ${Array(n).fill("(?, ?, ?, ?, ?, ?)").join(", ")} RETURNING id`);
  const full = insert(BATCH);
  const started = performance.now();
  for (let i = 0; i < rows.length; i += BATCH) {
    const part = rows.slice(i, i + BATCH);
    db.exec("BEGIN IMMEDIATE");
    (part.length === BATCH ? full : insert(part.length)).all(...part.flatMap((r) => [r.data, r.messageId, "bench", r.from, r.to, 2]));
    db.exec("COMMIT");
  }
  const ms = performance.now() - started;
  db.close();
  console.log(`${count} rows${randomIds ? " (random Message-IDs)" : ""}: ${ms.toFixed(0)} ms, ${Math.round(count / (ms / 1000))} rows/s`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
