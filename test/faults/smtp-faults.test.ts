// A misbehaving SMTP server against the compiled binary: every reply class, a connection dropped in
// the middle of DATA and a server that stalls past backend.timeout. Each message must end sent,
// deferred or failed exactly as the error-class table says, and sent + deferred + failed = enqueued.
import { afterEach, expect } from "bun:test";
import { forEachDialect } from "../helpers/dialects.ts";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { finalState } from "./support.ts";

let b: Bench | null = null;
afterEach(async () => {
  await b?.cleanup();
  b = null;
});

type Fault = { subject: string; to?: string; temporary: boolean; logs: RegExp };

/** One message per fault; `temporary` is what the error-class table says about it. */
const FAULTS: Fault[] = [
  { subject: "421-data", temporary: true, logs: /421/ },
  { subject: "451-data", temporary: true, logs: /451/ },
  { subject: "452-rcpt", to: "full@example.com", temporary: true, logs: /452/ },
  { subject: "550-rcpt", to: "nobody@example.com", temporary: false, logs: /550/ },
  { subject: "550-data", temporary: false, logs: /550/ },
  { subject: "554-data", temporary: false, logs: /554/ },
  { subject: "drop-mid-data", temporary: true, logs: /ECONNECTION|ESOCKET|closed|reset|EPIPE/i },
  { subject: "stall", temporary: true, logs: /time/i },
];

function misbehave(bench: Bench): void {
  bench.sink.onRecipient = (address) =>
    address === "full@example.com" ? { code: 452, message: "mailbox full" }
    : address === "nobody@example.com" ? { code: 550, message: "no such user" }
    : undefined;
  bench.sink.onMessage = (m) => {
    const match = /^(\d{3})-data$/.exec(m.subject ?? "");
    if (match) return { code: Number(match[1]), message: `test reply ${match[1]}` };
    return m.subject === "stall" ? "stall" : undefined;
  };
  // The big body makes the first chunk a part of the message, so the drop really is mid-DATA.
  bench.sink.dropMidData = (chunk) => chunk.toString("latin1").includes("Subject: drop-mid-data");
}

forEachDialect((dialect, it) => {
  for (const permanentOn5xx of [false, true]) {
    it(`permanent_on_5xx = ${permanentOn5xx}: each fault ends as classified, and sent + deferred + failed = enqueued`, async () => {
      b = await bench(dialect, { backend: { timeout: 1 }, retry: { permanent_on_5xx: permanentOn5xx } });
      misbehave(b);
      await b.enqueue({ subject: "ok-before" });
      for (const f of FAULTS) {
        await b.enqueue({ subject: f.subject, to: f.to, body: f.subject === "drop-mid-data" ? "x".repeat(400_000) : undefined });
      }
      await b.enqueue({ subject: "ok-after" });
      const run = await b.run(["send-mail"]);
      expect(run.code).toBe(0);
      const permanent = FAULTS.filter((f) => !f.temporary && permanentOn5xx).length;
      const counts = summary(run.stdout);
      expect(counts).toEqual({ sent: 2, deferred: FAULTS.length - permanent, failed: permanent });
      expect(counts.sent + counts.deferred + counts.failed).toBe(FAULTS.length + 2);
      expect(b.sink.received.map((m) => m.subject)).toEqual(["ok-before", "ok-after"]);

      const { rows, logs } = await finalState(b);
      expect(rows).toHaveLength(FAULTS.length);
      for (const f of FAULTS) {
        const row = rows.find((r) => r.subject === f.subject)!;
        const expected = f.temporary || !permanentOn5xx ? "deferred" : "failed";
        expect({ subject: f.subject, status: row.status, claimed: row.claimed_by }).toEqual({ subject: f.subject, status: expected, claimed: null });
        expect(row.last_error).toMatch(f.logs);
        const log = logs.find((l) => l.subject === f.subject)!;
        expect(log.result).toBe("failure");
        expect(log.log_message).toBe(row.last_error);
      }

      // retry-deferred leaves failed messages alone; retry-failed brings them back.
      expect((await b.run(["retry-deferred"])).stdout).toBe(`${FAULTS.length - permanent} message(s) retried\n`);
      const after = await finalState(b);
      expect(after.failed).toHaveLength(permanent);
      expect(after.queued).toHaveLength(FAULTS.length - permanent);
    });
  }

  it("partial rejection: accepted recipients get the message once; the refused are recorded per recipient", async () => {
    b = await bench(dialect, { retry: { permanent_on_5xx: true } });
    const refuse = new Map<string, number>([["gone@example.com", 550], ["busy@example.com", 450]]);
    b.sink.onRecipient = (address) => (refuse.has(address) ? { code: refuse.get(address)!, message: `refused ${address}` } : undefined);
    await b.enqueue({ subject: "all-permanent", to: ["yes@example.com", "gone@example.com"] });
    await b.enqueue({ subject: "mixed", to: ["yes2@example.com", "gone@example.com", "busy@example.com"] });
    expect(summary((await b.run(["send-mail"])).stdout)).toEqual({ sent: 2, deferred: 1, failed: 1 });
    expect(b.sink.received.map((m) => m.to)).toEqual([["yes@example.com"], ["yes2@example.com"]]);

    let state = await finalState(b);
    const failed = state.rows.find((r) => r.subject === "all-permanent")!;
    expect([failed.status, failed.envelope_to]).toEqual(["failed", "gone@example.com"]);
    // A temporary refusal among them keeps every refused recipient owed: nothing is given up while
    // part of it may still go. The reasons are paired with their recipients.
    const mixed = state.rows.find((r) => r.subject === "mixed")!;
    expect([mixed.status, mixed.envelope_to]).toEqual(["deferred", "gone@example.com, busy@example.com"]);
    expect(mixed.last_error).toMatch(/gone@example\.com \([^)]*550[^)]*\); busy@example\.com \([^)]*450/);
    expect(state.logs.map((l) => [l.subject, l.result, l.envelope_to])).toEqual([
      ["all-permanent", "success", "yes@example.com"],
      ["all-permanent", "failure", "gone@example.com"],
      ["mixed", "success", "yes2@example.com"],
      ["mixed", "failure", "gone@example.com, busy@example.com"],
    ]);

    // The busy mailbox frees up: only the refused are tried again, and the permanent one alone fails.
    refuse.delete("busy@example.com");
    await b.run(["retry-deferred"]);
    expect(summary((await b.run(["send-mail"])).stdout)).toEqual({ sent: 1, deferred: 0, failed: 1 });
    expect(b.sink.received.map((m) => m.to)).toEqual([["yes@example.com"], ["yes2@example.com"], ["busy@example.com"]]);
    state = await finalState(b);
    expect(state.failed.map((r) => [r.subject, r.envelope_to])).toEqual([
      ["all-permanent", "gone@example.com"],
      ["mixed", "gone@example.com"],
    ]);

    // retry-failed: the operator re-queues one by id; the accepted recipients are never sent again.
    refuse.clear();
    const retried = await b.run(["retry-failed", String(failed.id)]);
    expect([retried.code, retried.stdout]).toEqual([0, "1 message(s) re-queued\n"]);
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(1);
    expect(b.sink.received.at(-1)!.to).toEqual(["gone@example.com"]);
    expect(b.sink.received.filter((m) => m.to.includes("yes@example.com"))).toHaveLength(1);
  });
});
