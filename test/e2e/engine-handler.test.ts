// A custom error_handler module loaded by the compiled binary at run time (SPEC §5).
import { afterEach, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

/** A handler module that records what it was given in $HANDLER_OUT and then does `body`. */
function useHandler(bench: Bench, body: string) {
  writeFileSync(
    join(bench.dir, "handler.ts"),
    `import { appendFileSync } from "node:fs";
export default async function (context: any, message: any, error: any) {
  appendFileSync(process.env.HANDLER_OUT!, JSON.stringify({
    transport: context.transport, hasReconnect: typeof context.reconnect === "function",
    hasLogger: typeof context.logger?.info === "function",
    id: message.id, messageId: message.messageId, subject: message.subject, envelope: message.envelope,
    rawIsBytes: message.raw instanceof Uint8Array, priority: message.priority, retryCount: message.retryCount,
    responseCode: error?.responseCode ?? null,
  }) + "\\n");
  ${body}
}
`,
  );
  bench.configure({ top: { error_handler: "./handler.ts" } });
}

const calls = (bench: Bench) =>
  readFileSync(join(bench.dir, "calls.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
const run = (bench: Bench, args: string[]) => bench.run(args, { HANDLER_OUT: join(bench.dir, "calls.jsonl") });

forEachDialect((dialect, it) => {
  it("a handler returning sent: the message is logged as success and removed", async () => {
    b = await bench(dialect);
    useHandler(b, `return { action: "sent" };`);
    b.sink.onMessage = () => ({ code: 451, message: "greylisted" });
    const id = await b.enqueue({ subject: "greylisted", to: "x@example.com", priority: 1 });
    const [queued] = await b.messages();
    const result = await run(b, ["send-mail"]);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual({ sent: 1, deferred: 0, failed: 0 });
    expect(calls(b)).toEqual([
      {
        transport: "smtp", hasReconnect: true, hasLogger: true, id, messageId: queued!.message_id, subject: "greylisted",
        envelope: { from: "sender@example.com", to: ["x@example.com"] }, rawIsBytes: true, priority: 1, retryCount: 0,
        responseCode: 451,
      },
    ]);
    expect(await b.messages()).toHaveLength(0);
    const [log] = await b.logs();
    expect(log!.result).toBe("success");
    expect(log!.log_message).toContain("error handler reported sent");
  });

  it("a handler returning deferred: the message is deferred and a failure logged", async () => {
    b = await bench(dialect);
    useHandler(b, `return "deferred";`);
    b.sink.onMessage = () => ({ code: 550 });
    await b.enqueue();
    const result = await run(b, ["send-mail"]);
    expect(summary(result.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
    expect((await b.messages())[0]!.status).toBe("deferred");
    expect((await b.logs())[0]!.result).toBe("failure");
  });

  it("a handler returning failed parks the message for good: retry-deferred leaves it", async () => {
    b = await bench(dialect);
    useHandler(b, `return { action: "failed" };`);
    b.sink.onMessage = () => ({ code: 550, message: "no such user" });
    await b.enqueue();
    const result = await run(b, ["send-mail"]);
    expect(summary(result.stdout)).toEqual({ sent: 0, deferred: 0, failed: 1 });
    expect((await b.messages())[0]!.status).toBe("failed");
    expect((await run(b, ["retry-deferred"])).stdout).toBe("0 message(s) retried\n");
  });

  it("a handler that throws stops the pass (exit 70) and leaves that message and the rest queued", async () => {
    b = await bench(dialect);
    useHandler(b, `throw new Error("handler bug");`);
    b.sink.onMessage = (m) => (m.subject === "first" ? { code: 451 } : undefined);
    await b.enqueue({ subject: "first", priority: 1 });
    await b.enqueue({ subject: "second" });
    const result = await run(b, ["send-mail"]);
    expect(result.code).toBe(70);
    expect(result.stderr).toContain("error handler threw: handler bug");
    expect(b.sink.received).toHaveLength(0);
    const rows = await b.messages();
    expect(rows.map((r) => [r.subject, r.status, r.claimed_by])).toEqual([
      ["first", "queued", null],
      ["second", "queued", null],
    ]);
    expect(await b.logs()).toHaveLength(0);
  });

  it("a handler answering outside the contract stops the pass like one that throws", async () => {
    b = await bench(dialect);
    useHandler(b, `return { action: "maybe" };`);
    b.sink.onMessage = () => ({ code: 451 });
    await b.enqueue();
    const result = await run(b, ["send-mail"]);
    expect(result.code).toBe(70);
    expect(result.stderr).toContain('error handler returned {"action":"maybe"}');
    expect((await b.messages())[0]!.status).toBe("queued");
  });

  it("a handler asking for a new connection gets one for the next message", async () => {
    b = await bench(dialect);
    useHandler(b, `return { action: "deferred", newConnection: true };`);
    b.sink.onMessage = (m) => (m.subject === "first" ? { code: 451 } : undefined);
    await b.enqueue({ subject: "first" });
    await b.enqueue({ subject: "second" });
    await b.enqueue({ subject: "third" });
    const result = await run(b, ["send-mail"]);
    expect(summary(result.stdout)).toEqual({ sent: 2, deferred: 1, failed: 0 });
    const sessions = b.sink.received.map((m) => m.sessionId);
    expect(sessions[0]).toBe(sessions[1]!);
    expect(b.sink.connections).toBe(2);
  });
});

test("an error_handler path that does not load is a config error (exit 78)", async () => {
  b = await bench("sqlite", { top: { error_handler: "./missing-handler.ts" } });
  await b.enqueue();
  const result = await b.run(["send-mail"]);
  expect(result.code).toBe(78);
  expect(result.stderr).toContain("error_handler: cannot load");
  expect((await b.messages())[0]!.claimed_by).toBeNull();
});
