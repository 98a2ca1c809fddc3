// What the engine checks at the moment it acts (issue 16, items 6 and 7), through the compiled
// binary against a real SMTP sink: the don't-send list is read again right before each message's
// SMTP transaction, and a batch's outcome is recorded once even when the acknowledgement of its
// commit never reached the worker.
import { afterEach, describe, expect } from "bun:test";
import { forEachDialect, testFor } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { isCommitComplete, startPgProxy, type Proxy } from "../pg/pg-proxy.ts";
import { runMailer } from "../helpers/cli.ts";

let b: Bench | null = null;
let proxy: Proxy | null = null;
afterEach(async () => {
  await proxy?.close();
  proxy = null;
  await b?.cleanup();
  b = null;
});

/** send-mail with the message `subject` held open at the sink: `inFlight` settles once it is there
 * (its whole batch claimed by then), and the sink accepts it when `change` has run. */
async function sendWhileHolding(bench: Bench, subject: string, change: () => Promise<void>) {
  let arrived!: () => void;
  const inFlight = new Promise<void>((r) => (arrived = r));
  let changed!: () => void;
  const done = new Promise<void>((r) => (changed = r));
  bench.sink.onMessage = (m) => (m.subject === subject ? (arrived(), { acceptWhen: done }) : undefined);
  const sending = bench.run(["send-mail"]);
  await inFlight;
  expect((await bench.messages()).every((m) => m.claimed_by !== null)).toBe(true);
  await change();
  changed();
  return sending;
}

forEachDialect((dialect, it) => {
  it("an address put on the don't-send list while its batch is being sent is not mailed", async () => {
    b = await bench(dialect, { backend: { pool: 1, timeout: 30 } });
    for (const to of ["first@example.com", "second@example.com", "third@example.com"]) await b.enqueue({ to, subject: to });
    // The first message is held open at the sink until the third address is on the list: by then
    // all three were claimed in one batch, with a list that did not name it.
    const run = await sendWhileHolding(b, "first@example.com", async () => {
      const add = await runMailer(["dont-send", "add", "Third@Example.com", "--config", b!.configPath]);
      expect(add.code).toBe(0);
    });
    expect(run.code).toBe(0);
    expect(b.sink.received.map((m) => m.to[0])).toEqual(["first@example.com", "second@example.com"]);
    const logs = await b.logs();
    expect(logs.map((l) => [l.envelope_to, l.result])).toEqual([
      ["first@example.com", "success"],
      ["second@example.com", "success"],
      ["third@example.com", "dont_send"],
    ]);
    expect(await b.messages()).toEqual([]);
  });

  it("a list changed by plain SQL (not through mailer) is seen at send time too; the other recipients still get it", async () => {
    b = await bench(dialect, { backend: { pool: 1, timeout: 30 } });
    await b.enqueue({ to: "a@example.com", subject: "a@example.com" });
    await b.enqueue({ to: ["b@example.com", "c@example.com"], subject: "b and c" });
    const run = await sendWhileHolding(b, "a@example.com", async () => {
      await b!.db.kysely.insertInto("mailer_dontsendentry").values({ to_address: "b@example.com" }).execute();
    });
    expect(run.code).toBe(0);
    expect(summary(run.stdout)).toEqual({ sent: 2, deferred: 0, failed: 0 });
    expect(b.sink.received.map((m) => m.to)).toEqual([["a@example.com"], ["c@example.com"]]);
    expect((await b.logs()).map((l) => [l.envelope_to, l.result])).toEqual([
      ["a@example.com", "success"],
      ["c@example.com", "success"],
      ["b@example.com", "dont_send"],
    ]);
  });
});

describe("a lost commit acknowledgement", () => {
  testFor("postgres")("is retried without a second log row: one message, one success row", async () => {
    b = await bench("postgres", { backend: { pool: 1 } });
    await b.enqueue({ to: "once@example.com" });
    await b.enqueue({ to: "twice@example.com" });
    const url = new URL(b.url);
    let cuts = 0;
    // The first COMMIT of a transaction that wrote log rows: the server commits it, the worker never
    // hears so, and its retry runs on a new connection.
    proxy = await startPgProxy(url.hostname, Number(url.port || 5432), (type, message, connection) => {
      if (cuts > 0 || !isCommitComplete(type, message) || !connection.sent.includes('insert into "mailer_messagelog"')) return "pass";
      cuts++;
      return "cut";
    });
    url.port = String(proxy.port);
    b.configure({ backend: { pool: 1 } }, url.toString());
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    expect(cuts).toBe(1);
    expect(run.stderr).toContain("recording a batch failed, retrying");
    expect(summary(run.stdout)).toMatchObject({ sent: 2, deferred: 0, failed: 0 });
    expect(b.sink.received).toHaveLength(2);
    const logs = await b.logs();
    expect(logs.map((l) => [l.envelope_to, l.result]).sort()).toEqual([
      ["once@example.com", "success"],
      ["twice@example.com", "success"],
    ]);
    expect(await b.messages()).toEqual([]);
  });
});
