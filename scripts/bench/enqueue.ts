// Child process: bulk enqueue through the library (openQueue + enqueueMany) into a fresh database,
// timing enqueueMany alone; or, in "single" mode, `count` enqueue() calls one after another (one
// composed message, one commit each), timing each call. Run in its own process so each figure starts
// from a cold heap and the orchestrating bench does not share its event loop. Prints one JSON line.
//
//   bun scripts/bench/enqueue.ts '{"config":"/tmp/…/mailer.toml","count":10000,"mode":"raw"}'
import { openQueue, type MailInput } from "../../src/index.ts";
import { benchMessages } from "./messages.ts";

interface Args {
  config: string;
  count: number;
  /** raw: complete RFC 5322 texts with envelopes; composed: nodemailer options (from/to/subject/text);
   * single: the composed messages, each by its own enqueue() call. */
  mode: "raw" | "composed" | "single";
  tag?: string;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const opened = performance.now();
const queue = await openQueue({ config: args.config, migrate: true });
const openMs = performance.now() - opened;

const messages = benchMessages(args.count, args.tag);
const list: MailInput[] =
  args.mode === "raw"
    ? messages.map((m) => ({ raw: m.raw, envelope: { from: m.envelope.from, to: m.envelope.to } }))
    : messages.map((m, i) => ({
        from: `Bench Sender <${m.envelope.from}>`,
        to: m.envelope.to,
        subject: `composed message ${i}`,
        text: m.raw.slice(m.raw.indexOf("\r\n\r\n") + 4),
      }));

const started = performance.now();
let outcomes: Awaited<ReturnType<typeof queue.enqueueMany>>;
/** single mode: each call's milliseconds, in order. */
const calls: number[] = [];
if (args.mode === "single") {
  outcomes = [];
  for (const mail of list) {
    const at = performance.now();
    outcomes.push(await queue.enqueue(mail));
    calls.push(performance.now() - at);
  }
} else {
  outcomes = await queue.enqueueMany(list);
}
const ms = performance.now() - started;

// The ceiling sends benchMessage(i) as generated: check the stored text is those very bytes.
let sameBytes: boolean | null = null;
if (args.mode === "raw" && outcomes[0]?.id != null) {
  const db = await queue.database();
  const row = await db.kysely.selectFrom("mailer_message").select("message_data").where("id", "=", outcomes[0].id).executeTakeFirst();
  sameBytes = row !== undefined && Buffer.from(row.message_data).equals(Buffer.from(messages[0]!.raw, "utf8"));
}
await queue.close();

const queued = outcomes.filter((o) => o.id !== null).length;
if (queued !== args.count) {
  process.stderr.write(`enqueue: queued ${queued} of ${args.count}\n`);
  process.exit(1);
}
const percentile = (p: number) => [...calls].sort((a, b) => a - b)[Math.min(calls.length - 1, Math.floor((p / 100) * calls.length))] ?? null;
const perCall = calls.length > 0 ? { p50: percentile(50), p99: percentile(99) } : {};
process.stdout.write(JSON.stringify({ count: args.count, ms, openMs, rate: args.count / (ms / 1000), sameBytes, ...perCall }) + "\n");
