// The long-running workers keep one SMTP transport for the whole run: a pass per message (each
// notification, each wake-up) must not cost an SMTP session per message.
import { afterEach, expect } from "bun:test";
import { forEachDialect, testFor } from "../helpers/dialects.ts";
import { bench, type Bench } from "../helpers/engine.ts";
import { pgBench, type ServerBench } from "../helpers/server-bench.ts";

let b: Bench | null = null;
let pg: ServerBench | null = null;
afterEach(async () => {
  await b?.cleanup();
  await pg?.cleanup();
  b = pg = null;
});

forEachDialect((dialect, it) => {
  it("runmailer sends mail arriving over several passes through one SMTP connection", async () => {
    b = await bench(dialect, { delivery: { empty_queue_sleep: 0.2 } });
    const { proc, stderr } = b.start(["runmailer", "--log-level", "debug"]);
    // Each message is enqueued while the worker sleeps, so each goes in a pass of its own.
    const sleeps = () => stderr.lines.filter((l) => /sleeping for 0.2 s/.test(l)).length;
    await stderr.waitFor(/sleeping for 0.2 s/);
    for (let i = 1; i <= 4; i++) {
      const before = sleeps();
      await b.enqueue({ subject: `pass ${i}` });
      await b.sink.waitFor(i);
      while (sleeps() === before) await Bun.sleep(10);
    }
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    await stderr.done;
    expect(b.sink.received.map((m) => m.subject)).toEqual(["pass 1", "pass 2", "pass 3", "pass 4"]);
    expect(stderr.lines.filter((l) => /\b1 sent, 0 deferred/.test(l)).length).toBeGreaterThanOrEqual(4);
    expect(b.sink.connections).toBe(1);
  });
});

testFor("postgres")("runmailer-pg sends notified messages, one pass each, through one SMTP connection", async () => {
  pg = await pgBench({ delivery: { empty_queue_sleep: 60 } });
  const w = pg.spawn(["runmailer-pg"]);
  await w.stderr.waitFor(/listening for new mail/);
  for (let i = 1; i <= 5; i++) {
    await pg.enqueue(1, `n${i}`);
    await pg.sink.waitFor(i);
  }
  w.proc.kill("SIGTERM");
  expect(await w.proc.exited).toBe(0);
  expect(pg.sink.received).toHaveLength(5);
  expect(pg.sink.connections).toBe(1);
});
