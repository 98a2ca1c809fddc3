// Steps 2 and 5: what one process costs. `mailer queue` and `mailer sendmail` queue one message per
// process; `mailer send-mail` runs on an empty queue; `mailer --version` (no config, no database) is
// measured alongside, interleaved with the others so that noise falls on all of them alike. Each
// figure is the median of `reps` spawn-to-exit times, after one unmeasured warm-up run.
import { addRow, say, type Bench } from "../context.ts";
import { freshDb, writeConfig, type Dialect } from "../db.ts";
import { benchMessage } from "../messages.ts";
import { cleanEnv, median, round, runOk, summary } from "../proc.ts";

export async function migratedDb(bench: Bench, dialect: Dialect) {
  const db = await freshDb(dialect);
  const config = writeConfig(db, { smtp: bench.sink });
  await runOk("migrate", [bench.binary, "migrate", "--config", config], { cwd: db.dir });
  return { db, config };
}

const version = (bench: Bench, cwd: string) => runOk("--version", [bench.binary, "--version"], { cwd });

export async function cliStep(bench: Bench): Promise<void> {
  const raw: Record<string, unknown> = {};
  for (const dialect of bench.dialects) {
    const { db, config } = await migratedDb(bench, dialect);
    try {
      let i = 0;
      const queue = () =>
        runOk("queue", [bench.binary, "queue", "--config", config, "--from", "app@example.test", "--to", `user${i}@example.test`, "--subject", `cli ${i++}`, "--text", "Hello from the bench."], { cwd: db.dir });
      const sendmail = () =>
        runOk("sendmail", [bench.binary, "sendmail", "-t", "-oi"], { cwd: db.dir, env: cleanEnv({ MAILER_CONFIG: config }), stdin: benchMessage(i++, "sendmail").raw });
      await queue();
      await sendmail();
      await version(bench, db.dir);
      const times = { queue: [] as number[], sendmail: [] as number[], version: [] as number[] };
      for (let r = 0; r < bench.sizes.reps; r++) {
        times.version.push((await version(bench, db.dir)).ms);
        times.queue.push((await queue()).ms);
        times.sendmail.push((await sendmail()).ms);
      }
      say(`cli ${dialect}: queue ${median(times.queue).toFixed(1)} ms, sendmail ${median(times.sendmail).toFixed(1)} ms, --version ${median(times.version).toFixed(1)} ms`);
      addRow(bench, { id: "cli.queue", label: "mailer queue (flags), one message per process", unit: "ms/call", values: { [dialect]: median(times.queue) } });
      addRow(bench, { id: "cli.sendmail", label: "mailer sendmail -t, one message per process", unit: "ms/call", values: { [dialect]: median(times.sendmail) } });
      addRow(bench, { id: "cli.version", label: "mailer --version, beside them", unit: "ms/call", values: { [dialect]: median(times.version) } });
      raw[dialect] = { queue: summary(times.queue), sendmail: summary(times.sendmail), version: summary(times.version) };
    } finally {
      await db.drop();
    }
  }
  bench.raw.cli = raw;
}

export async function emptyStep(bench: Bench): Promise<void> {
  const raw: Record<string, unknown> = {};
  for (const dialect of bench.dialects) {
    const { db, config } = await migratedDb(bench, dialect);
    try {
      const sendMail = async () => {
        const result = await runOk("send-mail", [bench.binary, "send-mail", "--config", config], { cwd: db.dir });
        if (!/^0 sent, 0 deferred, 0 failed/m.test(result.stdout)) throw new Error(`send-mail on an empty queue said: ${result.stdout.trim()}`);
        return result;
      };
      await sendMail();
      await version(bench, db.dir);
      const times = { sendMail: [] as number[], version: [] as number[] };
      for (let r = 0; r < bench.sizes.reps; r++) {
        times.version.push((await version(bench, db.dir)).ms);
        times.sendMail.push((await sendMail()).ms);
      }
      const ratio = median(times.sendMail) / median(times.version);
      say(`empty ${dialect}: send-mail ${median(times.sendMail).toFixed(1)} ms, --version ${median(times.version).toFixed(1)} ms`);
      addRow(bench, { id: "empty.send-mail", label: "send-mail on an empty queue, wall", unit: "ms", values: { [dialect]: median(times.sendMail) } });
      addRow(bench, { id: "empty.version", label: "mailer --version, beside it", unit: "ms", values: { [dialect]: median(times.version) } });
      addRow(bench, { id: "empty.ratio", label: "empty send-mail / --version", unit: "ratio", values: { [dialect]: ratio }, target: { op: "<=", value: 2 } });
      raw[dialect] = { sendMail: summary(times.sendMail), version: summary(times.version), ratio: round(ratio, 3) };
    } finally {
      await db.drop();
    }
  }
  bench.raw.empty = raw;
}
