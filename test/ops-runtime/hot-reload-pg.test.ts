// Hot reload on a running `runmailer-pg`: a database change moves the trigger and LISTEN to the new
// database (mail committed there goes out at once, long before the beat); a database without
// LISTEN/NOTIFY is refused and the running one kept.
import { afterEach, describe, expect } from "bun:test";
import { join } from "node:path";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { enqueueMessages } from "../../src/queue/enqueue.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";
import { openFreshDatabase } from "../helpers/db.ts";
import { testFor } from "../helpers/dialects.ts";
import { until } from "../helpers/wait.ts";
import { runtimeBench, toml, type RuntimeBench } from "./helpers.ts";

const it = testFor("postgres");
let b: RuntimeBench | null = null;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await b?.cleanup();
  b = null;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function pgQueue() {
  const db = await openFreshDatabase("postgres", cleanups);
  await migrateToLatest(db);
  return {
    url: db.url,
    async enqueue(subject: string) {
      const text = `From: app@example.com\r\nTo: rcpt@example.com\r\nSubject: ${subject}\r\n\r\nbody\r\n`;
      await enqueueMessages(db, [prepareMessage(new TextEncoder().encode(text))]);
    },
  };
}

describe("runmailer-pg", () => {
  it("a database change re-LISTENs on the new database; one without LISTEN/NOTIFY is refused", async () => {
    b = await runtimeBench();
    const [sink] = b.sinks;
    const first = await pgQueue();
    const second = await pgQueue();
    // A beat far beyond the test: delivery within it can only come from NOTIFY.
    const slow = (url: string) => toml(url, sink).replace("empty_queue_sleep = 0.2", "empty_queue_sleep = 300");
    b.write(slow(first.url));
    const w = b.start(["runmailer-pg"]);
    await w.stderr.waitFor(/runmailer-pg started/);
    await first.enqueue("first database");
    await sink.waitFor(1);

    b.write(slow(second.url), true);
    await w.stderr.waitFor(/config reloaded/);
    const listening = () => w.stderr.lines.filter((l) => l.includes("listening for new mail")).length;
    await until(() => listening() >= 2, "LISTEN on the second database");
    await second.enqueue("second database");
    await sink.waitFor(2);

    b.write(slow(`sqlite:${join(b.dir, "local.db")}`), true);
    const refused = await w.stderr.waitFor(/config not applied, keeping the running config/);
    expect(refused).toContain("needs PostgreSQL");
    await second.enqueue("still the second database");
    await sink.waitFor(3);
    expect(sink.received.map((m) => m.subject)).toEqual(["first database", "second database", "still the second database"]);
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
  });
});
