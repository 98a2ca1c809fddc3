// runmailer and runmailer-pg watch the spool: a message that sendmail drops there is imported and sent
// at once, not at the next beat (set here to ten minutes, far beyond the test's patience).
import { afterEach, expect } from "bun:test";
import { chmodSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runMailer } from "../helpers/cli.ts";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

forEachDialect((dialect, it) => {
  const worker = dialect === "postgres" ? "runmailer-pg" : "runmailer";
  it(`${worker} sends what sendmail drops into the spool without waiting for its beat`, async () => {
    b = await bench(dialect);
    const spool = join(b.dir, "spool");
    mkdirSync(spool);
    chmodSync(spool, 0o3733);
    b.configure({ delivery: { empty_queue_sleep: 600 }, queue: { spool, aliases: "", default_domain: "example.org" } });
    const { proc, stderr } = b.start([worker, "--log-level", "debug"]);
    await stderr.waitFor(/watching the spool/);
    // The first pass is over (the queue was empty) and the worker waits for its ten-minute beat.
    await stderr.waitFor(dialect === "postgres" ? /pass finished/ : /sleeping for 600 s/);
    for (const n of [1, 2]) {
      const submit = await runMailer(["sendmail", "--config", b.configPath, "ops"], { stdin: `Subject: dropped ${n}\n\nhello\n` });
      expect(submit.code).toBe(0);
      await b.sink.waitFor(n, 10_000);
    }
    expect(b.sink.received.map((m) => [m.subject, m.to])).toEqual([
      ["dropped 1", ["ops@example.org"]],
      ["dropped 2", ["ops@example.org"]],
    ]);
    expect(readdirSync(spool)).toEqual([]);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });
});
