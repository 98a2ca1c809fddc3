// send-mail as cron runs it: the compiled binary against a real SMTP sink and both databases.
import { afterEach, expect } from "bun:test";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { addDontSend } from "../../src/db/queries/dont-send.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

forEachDialect((dialect, it) => {
  it("sends high, then medium, then low priority, each in the order it was queued", async () => {
    b = await bench(dialect);
    await b.enqueue({ subject: "low-1", priority: 3 });
    await b.enqueue({ subject: "medium-1" });
    await b.enqueue({ subject: "high-1", priority: 1 });
    await b.enqueue({ subject: "low-2", priority: 3 });
    await b.enqueue({ subject: "medium-2" });
    await b.enqueue({ subject: "high-2", priority: 1 });
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    expect(summary(run.stdout)).toEqual({ sent: 6, deferred: 0, failed: 0 });
    expect(b.sink.received.map((m) => m.subject)).toEqual(["high-1", "high-2", "medium-1", "medium-2", "low-1", "low-2"]);
    expect(await b.messages()).toHaveLength(0);
  });

  it("logs each success with the Message-ID assigned at enqueue, which is the one on the wire", async () => {
    b = await bench(dialect);
    await b.enqueue({ subject: "one" });
    const [queued] = await b.messages();
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    const [log] = await b.logs();
    expect(log!.result).toBe("success");
    expect(log!.message_id).toBe(queued!.message_id);
    expect(b.sink.received[0]!.messageId).toBe(queued!.message_id);
    expect(Buffer.from(log!.message_data).toString()).toBe(Buffer.from(queued!.message_data).toString());
  });

  it("keeps no message text in the log when log_message_data = false", async () => {
    b = await bench(dialect, { delivery: { log_message_data: false } });
    await b.enqueue();
    const [queued] = await b.messages();
    expect((await b.run(["send-mail"])).code).toBe(0);
    const [log] = await b.logs();
    expect(log!.message_data).toBeNull();
    expect(log!.message_id).toBe(queued!.message_id);
    expect(log!.result).toBe("success");
  });

  it("max_batch stops the pass after N sent and leaves the rest queued; 0 sends nothing", async () => {
    b = await bench(dialect, { delivery: { max_batch: 2 } });
    for (let i = 0; i < 3; i++) await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout)).toEqual({ sent: 2, deferred: 0, failed: 0 });
    expect(run.stderr).toContain("max_batch (2) reached");
    expect(await b.messages()).toHaveLength(1);
    expect((await b.messages())[0]!.claimed_by).toBeNull();
    b.configure({ delivery: { max_batch: 0 } });
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(0);
    expect(b.sink.received).toHaveLength(2);
  });

  it("max_deferred stops the pass after N deferred", async () => {
    b = await bench(dialect, { delivery: { max_deferred: 2 } });
    b.sink.onMessage = () => ({ code: 451, message: "try again later" });
    for (let i = 0; i < 5; i++) await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout)).toEqual({ sent: 0, deferred: 2, failed: 0 });
    expect(run.stderr).toContain("max_deferred (2) reached, stopping for this round");
    const rows = await b.messages();
    expect(rows.map((r) => r.status)).toEqual(["deferred", "deferred", "queued", "queued", "queued"]);
    expect(rows.every((r) => r.claimed_by === null)).toBe(true);
  });

  it("throttle sleeps after every message, the last one included", async () => {
    b = await bench(dialect, { delivery: { throttle: 0.4 } });
    await b.enqueue();
    await b.enqueue();
    const started = performance.now();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout).sent).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(800);
  });

  for (const [label, react] of [
    ["421 at end of data", { code: 421, message: "service not available" }],
    ["451 at end of data", { code: 451, message: "local error" }],
    ["550 at end of data", { code: 550, message: "content rejected" }],
    ["a dropped connection", "drop"],
  ] as const) {
    it(`defers the message on ${label}, logging a failure with the error text`, async () => {
      b = await bench(dialect);
      b.sink.onMessage = () => react;
      await b.enqueue({ subject: "refused" });
      const run = await b.run(["send-mail"]);
      expect(run.code).toBe(0);
      expect(summary(run.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
      const [row] = await b.messages();
      expect(row!.status).toBe("deferred");
      expect(row!.claimed_by).toBeNull();
      const [log] = await b.logs();
      expect(log!.result).toBe("failure");
      const expected = typeof react === "string" ? /closed|ECONNECTION/i : new RegExp(String(react.code));
      expect(log!.log_message).toMatch(expected);
      expect(row!.last_error).toBe(log!.log_message);
      expect(log!.log_message).not.toMatch(/^unexpected error/);
    });
  }

  it("defers when the server refuses the connection", async () => {
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    b = await bench(dialect, { backend: { port } });
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
    expect((await b.logs())[0]!.log_message).toContain("ECONNREFUSED");
  });

  it("defers when the server stops answering (timeout)", async () => {
    b = await bench(dialect, { backend: { timeout: 0.5 } });
    b.sink.onMessage = () => "stall";
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
    expect((await b.logs())[0]!.log_message).toMatch(/time/i);
  });

  it("a message that is deferred never blocks the messages behind it", async () => {
    b = await bench(dialect);
    b.sink.onRecipient = (address) => (address === "bad@example.com" ? { code: 550, message: "no such user" } : undefined);
    await b.enqueue({ subject: "first", to: "bad@example.com", priority: 1 });
    await b.enqueue({ subject: "second" });
    await b.enqueue({ subject: "third" });
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout)).toEqual({ sent: 2, deferred: 1, failed: 0 });
    expect(b.sink.received.map((m) => m.subject)).toEqual(["second", "third"]);
    // Deferred stays out of later passes until retry-deferred.
    expect(summary((await b.run(["send-mail"])).stdout)).toEqual({ sent: 0, deferred: 0, failed: 0 });
  });

  it("delivers to the accepted recipients once and keeps only the refused ones owed", async () => {
    b = await bench(dialect);
    let refuse = true;
    b.sink.onRecipient = (address) => (refuse && address === "no@example.com" ? { code: 450, message: "mailbox busy" } : undefined);
    await b.enqueue({ to: ["yes@example.com", "no@example.com"] });
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout)).toEqual({ sent: 1, deferred: 1, failed: 0 });
    expect(b.sink.received.map((m) => m.to)).toEqual([["yes@example.com"]]);
    const [row] = await b.messages();
    expect(row!.envelope_to).toBe("no@example.com");
    expect(row!.status).toBe("deferred");
    const logs = await b.logs();
    expect(logs.map((l) => [l.result, l.envelope_to])).toEqual([
      ["success", "yes@example.com"],
      ["failure", "no@example.com"],
    ]);
    refuse = false;
    expect((await b.run(["retry-deferred"])).code).toBe(0);
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(1);
    expect(b.sink.received.map((m) => m.to)).toEqual([["yes@example.com"], ["no@example.com"]]);
    expect(b.sink.received[1]!.messageId).toBe(b.sink.received[0]!.messageId);
  });

  it("keeps the Message-ID across retries", async () => {
    b = await bench(dialect);
    b.sink.onMessage = () => ({ code: 451 });
    await b.enqueue();
    const [queued] = await b.messages();
    await b.run(["send-mail"]);
    b.sink.onMessage = () => undefined;
    await b.run(["retry-deferred"]);
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(1);
    expect(b.sink.received[0]!.messageId).toBe(queued!.message_id);
    const logs = await b.logs();
    expect(logs.map((l) => l.message_id)).toEqual([queued!.message_id, queued!.message_id]);
  });

  it("drops recipients on the don't-send list at send time, and logs a message left with none", async () => {
    b = await bench(dialect);
    await b.enqueue({ subject: "only-blocked", to: "blocked@example.com" });
    await b.enqueue({ subject: "mixed", to: ["blocked@example.com", "ok@example.com"] });
    await addDontSend(b.db.kysely, "Blocked@Example.com");
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout)).toEqual({ sent: 1, deferred: 0, failed: 0 });
    expect(b.sink.received.map((m) => [m.subject, m.to])).toEqual([["mixed", ["ok@example.com"]]]);
    expect(await b.messages()).toHaveLength(0);
    const logs = await b.logs();
    expect(logs.map((l) => [l.subject, l.result, l.envelope_to])).toEqual([
      ["only-blocked", "dont_send", "blocked@example.com"],
      ["mixed", "success", "ok@example.com"],
      ["mixed", "dont_send", "blocked@example.com"],
    ]);
  });

  it("pause_send makes send-mail do nothing, with a log line", async () => {
    b = await bench(dialect, { delivery: { pause_send: true } });
    await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("sending is paused");
    expect(await b.messages()).toHaveLength(1);
  });

  it("sends over several connections at once with pool > 1, still in queue order of dispatch", async () => {
    b = await bench(dialect, { backend: { pool: 3 }, delivery: { claim_batch: 4 } });
    for (let i = 0; i < 10; i++) await b.enqueue();
    const run = await b.run(["send-mail"]);
    expect(summary(run.stdout).sent).toBe(10);
    expect(new Set(b.sink.received.map((m) => m.sessionId)).size).toBeGreaterThan(1);
    expect(b.sink.connections).toBeLessThanOrEqual(3);
    expect(await b.logs()).toHaveLength(10);
  });
});
