// Start-up, measured from outside JavaScript (exec-times.py) against a floor: a compiled Bun program
// that only prints "hello", built by the bench with the same flags as mailer (scripts/build.ts). The
// ratios are issue 18's targets: --version ≤ 2 × hello, sendmail -t and queue ≤ 3 ×, send-mail on
// an empty queue ≤ 4 ×. The older Bun.spawn-timed figures (cli, empty) stay beside these.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { addRow, say, type Bench } from "../context.ts";
import { benchRoot } from "../db.ts";
import { benchMessage } from "../messages.ts";
import { cleanEnv, compileLikeMailer, median, runOk, summary } from "../proc.ts";
import { quietGate } from "../quiet.ts";
import { migratedDb } from "./commands.ts";

/** The floor: what any compiled Bun program costs to start and exit. */
export async function buildHello(): Promise<string> {
  const dir = benchRoot();
  writeFileSync(join(dir, "hello.ts"), 'console.log("hello");\n');
  return compileLikeMailer(join(dir, "hello.ts"), join(dir, "bun-hello"));
}

export async function startupStep(bench: Bench): Promise<void> {
  const hello = await buildHello();
  const raw: Record<string, unknown> = {};
  for (const dialect of bench.dialects) {
    const full = await migratedDb(bench, dialect);
    const empty = await migratedDb(bench, dialect);
    try {
      const message = join(full.db.dir, "message.eml");
      writeFileSync(message, benchMessage(0, "startup").raw);
      const env = cleanEnv();
      const commands = [
        { name: "hello", argv: [hello], env },
        { name: "version", argv: [bench.binary, "--version"], env },
        { name: "sendmail", argv: [bench.binary, "sendmail", "-t", "-oi"], env: cleanEnv({ MAILER_CONFIG: full.config }), stdin: message },
        {
          name: "queue", env,
          argv: [bench.binary, "queue", "--config", full.config, "--from", "app@example.test", "--to", "user@example.test", "--subject", "startup", "--text", "Hello."],
        },
        { name: "sendMail", argv: [bench.binary, "send-mail", "--config", empty.config], env },
      ];
      const gate = await quietGate();
      const spec = JSON.stringify({ reps: bench.sizes.reps, commands });
      const result = await runOk("exec-times", ["python3", join(import.meta.dir, "..", "exec-times.py"), spec], { cwd: full.db.dir, timeoutMs: 600_000 });
      const times = JSON.parse(result.stdout) as Record<string, number[]>;
      const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<string, number>;
      say(`startup ${dialect}: hello ${m.hello!.toFixed(1)} ms, --version ${m.version!.toFixed(1)}, sendmail -t ${m.sendmail!.toFixed(1)}, queue ${m.queue!.toFixed(1)}, empty send-mail ${m.sendMail!.toFixed(1)}`);
      addRow(bench, { id: "startup.hello", label: "start-up floor: compiled Bun hello (exec from Python)", unit: "ms", values: { [dialect]: m.hello } });
      const ratios = [
        ["version", "mailer --version", 2],
        ["sendmail", "mailer sendmail -t", 3],
        ["queue", "mailer queue (flags)", 3],
        ["sendMail", "send-mail on an empty queue", 4],
      ] as const;
      for (const [key, label, target] of ratios) {
        addRow(bench, { id: `startup.${key}`, label: `${label} (exec from Python)`, unit: "ms", values: { [dialect]: m[key] } });
        addRow(bench, { id: `startup.${key}.ratio`, label: `${label} / hello`, unit: "ratio", values: { [dialect]: m[key]! / m.hello! }, target: { op: "<=", value: target } });
      }
      raw[dialect] = { gate, ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, summary(v)])) };
    } finally {
      await full.db.drop();
      await empty.db.drop();
    }
  }
  bench.raw.startup = raw;
}
