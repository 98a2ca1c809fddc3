// Probe: the floor under `sendmail -t` on SQLite, against which the bench's start-up ratio is read.
// A compiled program (built as mailer is built) that does only what any such command must: read and
// parse the config file, read the message from stdin, open the queue database, insert one row and
// close. No validation, no headers, no routing, no schema check. Timed from outside, interleaved with
// a compiled hello and the binary's own `sendmail -t`, on the same database.
//
//   bun scripts/bench/probes/sendmail-floor.ts BINARY [rounds=60]
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { benchRoot, dropAll } from "../db.ts";
import { benchMessage } from "../messages.ts";
import { cleanEnv, compileLikeMailer, median, runOk } from "../proc.ts";
import { buildHello } from "../steps/startup.ts";

const [binaryArg, roundsArg] = process.argv.slice(2);
if (!binaryArg) {
  process.stderr.write("usage: sendmail-floor.ts BINARY [rounds]\n");
  process.exit(64);
}
const binary = resolve(binaryArg);
const dir = benchRoot();
try {
  const config = join(dir, "mailer.toml");
  writeFileSync(config, `[database]\nurl = "sqlite:${join(dir, "queue.db")}"\n[queue]\naliases = ""\n`);
  await runOk("migrate", [binary, "migrate", "--config", config]);
  const message = join(dir, "message.eml");
  writeFileSync(message, benchMessage(0, "floor").raw);

  writeFileSync(
    join(dir, "bare-sendmail.ts"),
    `import { Database } from "bun:sqlite";
import { readFileSync, readSync } from "node:fs";
const config = Bun.TOML.parse(readFileSync(process.env.MAILER_CONFIG!, "utf8")) as { database: { url: string } };
const chunks: Buffer[] = [];
const buffer = Buffer.allocUnsafe(65536);
for (let n; (n = readSync(0, buffer, 0, buffer.length, null)) > 0; ) chunks.push(Buffer.from(buffer.subarray(0, n)));
const db = new Database(config.database.url.slice("sqlite:".length), { strict: false });
db.run("PRAGMA busy_timeout = 5000");
db.run("PRAGMA journal_mode = WAL");
db.query("INSERT INTO mailer_message (message_data, envelope_from, envelope_to) VALUES (?, ?, ?)").run(Buffer.concat(chunks), "app@example.test", "user@example.test");
db.close();
`,
  );
  const hello = await buildHello();
  const bare = await compileLikeMailer(join(dir, "bare-sendmail.ts"), join(dir, "bare-sendmail"));

  const env = cleanEnv({ MAILER_CONFIG: config });
  const commands = [
    { name: "hello", argv: [hello], env },
    { name: "bare sendmail", argv: [bare], env, stdin: message },
    { name: "mailer sendmail -t", argv: [binary, "sendmail", "-t", "-oi"], env, stdin: message },
  ];
  const spec = JSON.stringify({ reps: Number(roundsArg ?? 60), commands });
  const result = await runOk("exec-times", ["python3", join(import.meta.dir, "..", "exec-times.py"), spec], { cwd: dir, timeoutMs: 600_000 });
  const times = JSON.parse(result.stdout) as Record<string, number[]>;
  const floor = median(times.hello!);
  for (const [name, values] of Object.entries(times)) {
    console.log(`${name.padEnd(20)} ${median(values).toFixed(2)} ms  ${(median(values) / floor).toFixed(2)} × hello`);
  }
} finally {
  await dropAll();
}
