// SIGKILL at random points of a 1,000-message drain, 20 times (10 per database), each followed by a
// normal `send-mail`: every message must be delivered at least once, no more duplicates than the
// batches a worker holds unrecorded (two: the one being sent and the one being recorded; with
// claim_batch = pool / 2 here, at most `pool`), and the dead process's lock and claims must never
// block the next run. Only correctness is measured: the kill points come from
// a seeded RNG (MAILER_FAULT_SEED reproduces a run), and every wait is on a condition.
import { afterAll, expect } from "bun:test";
import { existsSync } from "node:fs";
import { sql } from "kysely";
import { join } from "node:path";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { deliveries } from "../helpers/smtp-sink.ts";
import { enqueueMany, seeded } from "./support.ts";

const SEED = Number(process.env.MAILER_FAULT_SEED ?? 7_2026);
/** Per database: 20 in all. */
const REPETITIONS = 10;
const MESSAGES = 1000;
const POOL = 4;
/** A pass holds at most two claimed batches unrecorded, so this makes the bound `pool`. */
const CLAIM_BATCH = POOL / 2;

type Mode = "before-reply" | "after-reply" | "timer";

interface Repetition {
  seed: number;
  mode: Mode;
  k: number;
  killed: boolean;
  duplicates: number;
}

async function repetition(b: Bench, random: () => number, rep: number): Promise<Repetition> {
  await b.db.kysely.deleteFrom("mailer_message").execute();
  await b.db.kysely.deleteFrom("mailer_messagelog").execute();
  b.sink.received.length = 0;
  const ids = await enqueueMany(b.db, MESSAGES, `r${rep}`);
  const modes: Mode[] = ["before-reply", "after-reply", "timer"];
  const mode = modes[Math.floor(random() * modes.length)]!;
  // k in [1, MESSAGES - POOL - 1]: the kill always lands while there is still mail to send.
  const k = 1 + Math.floor(random() * (MESSAGES - POOL - 2));
  const delayMs = Math.floor(random() * 200);

  // warn: no line per message, so the drain runs at the speed a quiet cron job has.
  const proc = b.spawn(["send-mail", "--log-level", "warn"]);
  let fired = false;
  const kill = () => {
    if (fired) return;
    fired = true;
    proc.kill("SIGKILL");
  };
  b.sink.onMessage = () => {
    const count = b.sink.received.length + 1;
    // before-reply: the server has the text but the client never hears 250 (the classic duplicate).
    if (mode === "before-reply" && count === k) kill();
    if (mode === "after-reply" && count === k) setImmediate(kill);
    if (mode === "timer" && count === 1) setTimeout(kill, delayMs);
    return undefined;
  };
  await proc.exited;
  b.sink.onMessage = () => undefined;
  const killed = proc.signalCode === "SIGKILL";

  const run = await b.run(["send-mail", "--log-level", "warn"]);
  expect({ rep, code: run.code, stderr: run.code === 0 ? "" : run.stderr }).toEqual({ rep, code: 0, stderr: "" });
  if (killed) expect(run.stderr).toContain("took over a stale lock");
  summary(run.stdout);

  const counts = deliveries(b.sink.received);
  const missing = ids.filter((id) => !counts.has(id));
  const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
  expect({ rep, missing: missing.length }).toEqual({ rep, missing: 0 });
  expect({ rep, mode, k, duplicatesAtMostPool: duplicates <= POOL }).toEqual({ rep, mode, k, duplicatesAtMostPool: true });
  expect(await b.messages()).toHaveLength(0);
  expect(existsSync(join(b.dir, "send_mail.lock"))).toBe(false);
  // Every delivery the queue knows of is logged once; a duplicate is the one it could not know of.
  const successes = (await b.logs()).filter((l) => l.result === "success");
  expect(new Set(successes.map((l) => l.message_id)).size).toBe(MESSAGES);
  return { seed: SEED, mode, k, killed, duplicates };
}

forEachDialect((dialect, it) => {
  let b: Bench | null = null;
  const results: Repetition[] = [];
  afterAll(async () => {
    await b?.cleanup();
    if (results.length > 0) {
      const dups = results.map((r) => r.duplicates);
      process.stderr.write(
        `kill-drain ${dialect}: seed ${SEED}, ${results.filter((r) => r.killed).length}/${results.length} killed, ` +
          `duplicates per run max ${Math.max(...dups)} total ${dups.reduce((a, c) => a + c, 0)}\n`,
      );
    }
  });

  it(`${REPETITIONS} SIGKILLs at random points of a ${MESSAGES}-message drain lose nothing; duplicates <= pool`, async () => {
    b = await bench(dialect, { backend: { pool: POOL, timeout: 10 }, delivery: { claim_batch: CLAIM_BATCH } });
    // The mailer is killed here, never PostgreSQL: its own fsync per commit only slows the drain.
    if (dialect === "postgres") {
      await sql`alter database ${sql.id(new URL(b.url).pathname.slice(1))} set synchronous_commit = off`.execute(b.db.kysely);
    }
    const random = seeded(SEED + (dialect === "sqlite" ? 0 : 1));
    for (let rep = 0; rep < REPETITIONS; rep++) results.push(await repetition(b, random, rep));
    // Not luck: most runs were really killed mid-drain (a run that finished first proves less).
    expect(results.filter((r) => r.killed).length).toBeGreaterThanOrEqual(REPETITIONS - 2);
  }, 240_000);
});
