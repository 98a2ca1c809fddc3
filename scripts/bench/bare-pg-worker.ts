// The floor under runmailer-pg's figures from outside: a bare Bun program doing only what a
// LISTEN/NOTIFY worker must do per message, with the same two libraries and none of mailer's code.
// It LISTENs on runmailer-pg's channel; on each notification it claims what is queued with one
// UPDATE … SKIP LOCKED … RETURNING, sends it on a kept nodemailer connection, and records it (a log
// row, the queue row deleted) in one transaction, until a claim comes back empty. No config, no
// lease renewal, no limits, no don't-send list, no housekeeping, no logging.
//
// The latency step compiles it as mailer is compiled and measures it by the same procedure
// (latencyFromOutside): its commit-to-arrival times, idle CPU and resident memory are what Bun,
// postgres.js and nodemailer cost by themselves.
//
//   bare-pg-worker '{"url":"postgres://…","host":"127.0.0.1","port":2525}'
import nodemailer from "nodemailer";
import postgres from "postgres";
import { LOG_INSERT, logValues, ROW_COLUMNS, type Row } from "./bare-rows.ts";

const args = JSON.parse(process.argv[2]!) as { url: string; host: string; port: number };
const sql = postgres(args.url, { max: 2, onnotice: () => {} });
const transport = nodemailer.createTransport({ pool: true, host: args.host, port: args.port, maxConnections: 1, maxMessages: Infinity });
const worker = `bare:${process.pid}`;

const CLAIM = `update mailer_message set claimed_by = $1, lease_until = now() + interval '10 minutes'
  where id in (select id from mailer_message where status = 'queued' and (claimed_by is null or lease_until < now())
               order by priority, when_added, id limit 100 for update skip locked)
  returning ${ROW_COLUMNS}`;

async function drain(): Promise<void> {
  for (;;) {
    const rows = await sql.unsafe<Row[]>(CLAIM, [worker]);
    if (rows.length === 0) return;
    for (const row of rows) {
      await transport.sendMail({ envelope: { from: row.envelope_from, to: row.envelope_to.split(", ") }, raw: Buffer.from(row.message_data) });
    }
    await sql.begin(async (trx) => {
      for (const row of rows) {
        await trx.unsafe(LOG_INSERT, logValues(row) as never[]);
      }
      await trx.unsafe("delete from mailer_message where id = any($1::bigint[])", [rows.map((r) => r.id)]);
    });
  }
}

// One drain at a time; a notification during one asks for one more after it.
let running = false;
let again = false;
async function wake(): Promise<void> {
  if (running) {
    again = true;
    return;
  }
  running = true;
  try {
    do {
      again = false;
      await drain();
    } while (again);
  } finally {
    running = false;
  }
}

await sql.listen("mailer_new_message", () => void wake());
await wake();
process.on("SIGTERM", async () => {
  transport.close();
  await sql.end({ timeout: 1 });
  process.exit(0);
});
