import { afterAll, beforeAll, expect } from "bun:test";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { addLog, addMessage, seededDatabase, type Seeded } from "./seed.ts";

const LONG_SUBJECT = "Quarterly report: " + "numbers ".repeat(30);

forEachDialect((dialect, it) => {
  let s: Seeded;
  const ids = { low: 0, newHigh: 0, oldHigh: 0, medium: 0, deferred: 0, failed: 0 };
  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    s = await seededDatabase(dialect);
    const db = s.db;
    ids.low = await addMessage(db, { priority: 3, ageS: 500, subject: "low one" });
    ids.newHigh = await addMessage(db, { priority: 1, ageS: 10, subject: "new high" });
    ids.oldHigh = await addMessage(db, { priority: 1, ageS: 900, subject: LONG_SUBJECT, envelope_to: "a@example.com, b@example.com" });
    ids.medium = await addMessage(db, { priority: 2, ageS: 60, subject: "medium one" });
    ids.deferred = await addMessage(db, {
      status: "deferred", ageS: 3600, retry_count: 2, message_id: "<deferred-1@example.com>", subject: "stuck",
      last_error: "421 4.7.0 try again later", nextAttemptInS: 300, claimed_by: "web1:123:abc", leaseInS: -30,
      data: "Message-ID: <deferred-1@example.com>\r\nSubject: stuck\r\nX-Custom: yes\r\n\r\nbody\r\n",
    });
    ids.failed = await addMessage(db, { status: "failed", ageS: 7200, subject: "gave up" });
    await addLog(db, { result: "failure", queue_id: ids.deferred, message_id: "<deferred-1@example.com>", ageS: 1800, log_message: "connection refused" });
    await addLog(db, { result: "failure", queue_id: ids.deferred, message_id: "<deferred-1@example.com>", ageS: 600, log_message: "421 4.7.0 try again later" });
    // A message that was delivered: its queue row is gone, only the log remains.
    await addLog(db, { result: "success", queue_id: 9999, message_id: "<sent-1@example.com>", ageS: 5 });
  });
  afterAll(async () => s?.cleanup());

  it("list shows the queued messages in send order: priority, then age", async () => {
    const run = await s.run(["list"], { COLUMNS: "200" });
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^id\s+status\s+priority\s+age\s+retries\s+message-id\s+to\s+subject$/);
    const order = lines.slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(order).toEqual([ids.oldHigh, ids.newHigh, ids.medium, ids.low]);
    expect(run.stdout).toContain("a@example.com, b@example.com");
    expect(run.stdout).not.toContain("stuck");
  });

  it("list fits its table to the terminal width by shortening the text columns", async () => {
    const run = await s.run(["list"], { COLUMNS: "120" });
    const lines = run.stdout.trim().split("\n");
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(120);
    expect(run.stdout).toContain("Quarterly report: numbers");
    expect(run.stdout).toContain("…");
  });

  it("list --deferred, --failed and --all choose the rows; --limit caps them and says so", async () => {
    const deferred = await s.run(["list", "--deferred", "--json"]);
    expect(JSON.parse(deferred.stdout).messages.map((m: { id: number }) => m.id)).toEqual([ids.deferred]);
    const failed = await s.run(["list", "--failed", "--json"]);
    expect(JSON.parse(failed.stdout).messages.map((m: { id: number }) => m.id)).toEqual([ids.failed]);
    const all = JSON.parse((await s.run(["list", "--all", "--json"])).stdout);
    expect(all.total).toBe(6);
    const limited = await s.run(["list", "--limit", "2"]);
    expect(limited.stdout.trim().split("\n")).toHaveLength(4);
    expect(limited.stdout).toContain("(2 of 4 queued messages shown; --limit N for more)");
  });

  it("list --json gives each row's fields", async () => {
    const out = JSON.parse((await s.run(["list", "--json", "--limit", "1"])).stdout);
    expect(out).toMatchObject({ status: "queued", total: 4 });
    expect(out.messages).toHaveLength(1);
    const m = out.messages[0];
    expect(m).toMatchObject({ id: ids.oldHigh, status: "queued", priority: "high", retry_count: 0, next_attempt_at: null, subject: LONG_SUBJECT });
    expect(m.envelope_to).toEqual(["a@example.com", "b@example.com"]);
    expect(Math.abs(m.age_s - 900)).toBeLessThanOrEqual(5);
    expect(m.message_id).toMatch(/^<.+@test>$/);
  });

  it("list with two status flags is a usage error", async () => {
    const run = await s.run(["list", "--deferred", "--failed"]);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain("choose one of");
  });

  it("show ID prints the message's state, headers, claim and every attempt", async () => {
    const run = await s.run(["show", String(ids.deferred)], { COLUMNS: "160" });
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toContain(`message ${ids.deferred}`);
    expect(out).toMatch(/^\s+status\s+deferred$/m);
    expect(out).toMatch(/^\s+priority\s+medium$/m);
    expect(out).toMatch(/^\s+retries\s+2$/m);
    expect(out).toMatch(/^\s+next attempt\s+\S+Z \(in 4m \d+s\)$/m);
    expect(out).toMatch(/^\s+last error\s+421 4\.7\.0 try again later$/m);
    expect(out).toMatch(/^\s+claim\s+web1:123:abc until \S+ \(lease expired/m);
    expect(out).toMatch(/^\s+envelope to\s+ops@example\.com$/m);
    expect(out).toContain("headers\n  Message-ID: <deferred-1@example.com>\n  Subject: stuck\n  X-Custom: yes\n");
    expect(out).not.toContain("body");
    expect(out).toContain("log (2)");
    // Attempts in time order, after the message block (whose "last error" also holds the 421).
    const log = out.slice(out.indexOf("log (2)"));
    expect(log).toMatch(/connection refused\n.*421 4\.7\.0 try again later\n$/);
  });

  it("show <Message-ID> finds the same message, with or without the brackets", async () => {
    for (const key of ["<deferred-1@example.com>", "deferred-1@example.com"]) {
      const out = JSON.parse((await s.run(["show", key, "--json"])).stdout);
      expect(out.messages.map((m: { id: number }) => m.id)).toEqual([ids.deferred]);
      expect(out.log.map((l: { log_message: string }) => l.log_message)).toEqual(["connection refused", "421 4.7.0 try again later"]);
    }
  });

  it("show --json gives the message and its log rows", async () => {
    const out = JSON.parse((await s.run(["show", String(ids.deferred), "--json"])).stdout);
    const m = out.messages[0];
    expect(m).toMatchObject({
      id: ids.deferred, status: "deferred", priority: "medium", retry_count: 2, last_error: "421 4.7.0 try again later",
      message_id: "<deferred-1@example.com>", envelope_from: "app@example.com", envelope_to: ["ops@example.com"],
      claim: { by: "web1:123:abc", live: false },
      headers: "Message-ID: <deferred-1@example.com>\nSubject: stuck\nX-Custom: yes",
    });
    expect(out.log).toHaveLength(2);
    expect(out.log[0]).toMatchObject({ queue_id: ids.deferred, result: "failure", log_message: "connection refused", has_message_data: false });
  });

  it("show finds a delivered message by its old queue id or Message-ID through the log", async () => {
    for (const key of ["9999", "<sent-1@example.com>"]) {
      const run = await s.run(["show", key]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("is not in the queue");
      expect(run.stdout).toMatch(/success/);
    }
  });

  it("show of an unknown id or Message-ID exits 1 with a clear error", async () => {
    const byId = await s.run(["show", "424242"]);
    expect(byId.code).toBe(1);
    expect(byId.stderr).toBe("mailer: no message with id 424242\n");
    expect(byId.stdout).toBe("");
    const byMid = await s.run(["show", "<nope@example.com>"]);
    expect(byMid.code).toBe(1);
    expect(byMid.stderr).toBe("mailer: no message with Message-ID <nope@example.com>\n");
  });
});
