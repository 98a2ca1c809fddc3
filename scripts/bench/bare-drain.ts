// The floor under a drain's peak memory and rate: a bare Bun program that does only what any drain of
// mailer's queue must, with the same libraries and none of mailer's code. It claims 100 queued
// messages at a time, sends each stored text through a nodemailer pool of POOL connections (POOL
// sends in flight), records the batch (a log row each, the queue rows deleted) in one transaction,
// and exits when a claim comes back empty. No config, lease, limits, don't-send list, retries,
// logging or worker thread. On SQLite through bun:sqlite, on PostgreSQL through postgres.js.
//
// probes/rss-floor.ts compiles it as mailer is compiled and runs it beside `send-mail`.
//
//   bare-drain '{"url":"sqlite:/…/mailer.db" or "postgres://…","host":"127.0.0.1","port":2525,"pool":4}'
import { Database } from "bun:sqlite";
import nodemailer from "nodemailer";
import postgres from "postgres";
import { LOG_INSERT, logValues, ROW_COLUMNS, type Row } from "./bare-rows.ts";

const args = JSON.parse(process.argv[2]!) as { url: string; host: string; port: number; pool: number };
const transport = nodemailer.createTransport({ pool: true, host: args.host, port: args.port, maxConnections: args.pool, maxMessages: Infinity });

interface Store {
  claim(): Promise<Row[]>;
  record(rows: Row[]): Promise<void>;
  close(): Promise<void>;
}

function sqliteStore(path: string): Store {
  const db = new Database(path);
  db.run("pragma busy_timeout = 5000");
  const claim = db.prepare(`update mailer_message set claimed_by = 'bare', lease_until = datetime('now', '+10 minutes')
    where id in (select id from mailer_message where status = 'queued' and claimed_by is null order by priority, when_added, id limit 100)
    returning ${ROW_COLUMNS}`);
  const log = db.prepare(LOG_INSERT.replace(/\$(\d)/g, "?$1"));
  const remove = db.prepare("delete from mailer_message where id = ?");
  const record = db.transaction((rows: Row[]) => {
    for (const r of rows) {
      log.run(...(logValues(r) as never[]));
      remove.run(r.id);
    }
  });
  return {
    claim: async () => (claim.all() as Row[]).sort((a, b) => a.id - b.id),
    record: async (rows) => void record(rows),
    close: async () => db.close(),
  };
}

function postgresStore(url: string): Store {
  const sql = postgres(url, { max: 1, onnotice: () => {}, fetch_types: false });
  return {
    claim: () =>
      sql.unsafe<Row[]>(`update mailer_message set claimed_by = 'bare', lease_until = now() + interval '10 minutes'
        where id in (select id from mailer_message where status = 'queued' and claimed_by is null
                     order by priority, when_added, id limit 100 for update skip locked)
        returning ${ROW_COLUMNS}`),
    record: async (rows) => {
      await sql.begin(async (trx) => {
        for (const r of rows) await trx.unsafe(LOG_INSERT, logValues(r) as never[]);
        // An array literal: without its type query (fetch_types, as mailer connects) postgres.js
        // would not serialise a JavaScript array.
        await trx.unsafe("delete from mailer_message where id = any($1::bigint[])", [`{${rows.map((r) => r.id).join(",")}}`]);
      });
    },
    close: () => sql.end({ timeout: 1 }),
  };
}

const store = args.url.startsWith("sqlite:") ? sqliteStore(args.url.slice("sqlite:".length)) : postgresStore(args.url);
let sent = 0;
for (let rows = await store.claim(); rows.length > 0; rows = await store.claim()) {
  // POOL sends in flight, as send-mail keeps them.
  let next = 0;
  const lane = async () => {
    while (next < rows.length) {
      const r = rows[next++]!;
      await transport.sendMail({ envelope: { from: r.envelope_from, to: r.envelope_to.split(", ") }, raw: Buffer.from(r.message_data) });
      sent++;
    }
  };
  await Promise.all(Array.from({ length: args.pool }, lane));
  await store.record(rows);
}
transport.close();
await store.close();
console.log(`${sent} sent`);
