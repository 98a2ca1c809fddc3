// Child process: the ceiling. The same messages (same bytes, same envelopes) sent to the same sink by
// a bare nodemailer SMTP pool of the same size, with no database: what send-mail could reach if the
// queue cost nothing. Mirrors src/transports/smtp.ts: pool: true, maxConnections = N,
// maxMessages = Infinity, at most N sends in flight. Prints one JSON line.
//
// `"direct": true` feeds the pool the stored bytes as mailer's SMTP backend does (sendStored, without
// sendMail's composing): the same sender as a pass, so drain / that ceiling is what the queue costs.
//
//   bun scripts/bench/ceiling.ts '{"host":"127.0.0.1","port":2525,"pool":4,"count":10000}'
import nodemailer from "nodemailer";
import { sendStored, type SmtpPool } from "../../src/transports/smtp.ts";
import { benchMessages } from "./messages.ts";

interface Args {
  host: string;
  port: number;
  pool: number;
  count: number;
  direct?: boolean;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
// Buffers, as the engine hands nodemailer the stored bytes (src/transports/nodemailer-adapter.ts).
const messages = benchMessages(args.count).map((m) => ({ raw: Buffer.from(m.raw, "utf8"), envelope: m.envelope }));

const transporter = nodemailer.createTransport({
  pool: true,
  host: args.host,
  port: args.port,
  secure: false,
  maxConnections: args.pool,
  maxMessages: Infinity,
});

const pool = (transporter as unknown as { transporter: SmtpPool }).transporter;

let next = 0;
let failed = 0;
async function lane(): Promise<void> {
  while (next < messages.length) {
    const message = messages[next++]!;
    try {
      if (args.direct) await sendStored(pool, message);
      else await transporter.sendMail({ envelope: message.envelope, raw: message.raw });
    } catch {
      failed++;
    }
  }
}

// Timed from the first send (connections open inside the window, as they do in a send-mail pass).
const started = performance.now();
await Promise.all(Array.from({ length: args.pool }, lane));
const ms = performance.now() - started;
transporter.close();

process.stdout.write(JSON.stringify({ count: args.count, failed, ms, rate: (args.count - failed) / (ms / 1000) }) + "\n");
