// Child process of the latency step: commits bench messages one at a time with plain SQL (an
// application's own INSERT, not mailer's library), `gapMs` apart, and prints for each the wall-clock
// time its COMMIT was acknowledged. Being its own process, its clock readings share no event loop
// with the sink's or the bench's.
//
//   bun scripts/bench/latency-inserter.ts '{"url":"postgres://…","count":200,"gapMs":25,"tag":"ext"}'
// prints one JSON line per message: {"messageId":"<…>","committedAt":1733350000123.456}
import postgres from "postgres";
import { benchMessage } from "./messages.ts";

const args = JSON.parse(process.argv[2]!) as { url: string; count: number; gapMs: number; tag: string };
const sql = postgres(args.url, { max: 1, onnotice: () => {} });
/** Wall-clock milliseconds with sub-millisecond resolution (the stamping sink's are wall-clock too). */
const wallNow = () => performance.timeOrigin + performance.now();

try {
  for (let i = 0; i < args.count; i++) {
    const m = benchMessage(i, args.tag);
    const messageId = /^Message-ID: (<[^>]+>)/m.exec(m.raw)![1]!;
    await sql`insert into mailer_message (message_data, message_id, subject, envelope_from, envelope_to)
              values (${Buffer.from(m.raw)}, ${messageId}, ${`${args.tag} message ${i}`}, ${m.envelope.from}, ${m.envelope.to.join(", ")})`;
    process.stdout.write(JSON.stringify({ messageId, committedAt: wallNow() }) + "\n");
    await Bun.sleep(args.gapMs);
  }
} finally {
  await sql.end();
}
