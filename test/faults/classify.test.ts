// The pure parts of the reliability policy: the error-class table, durations, backoff with jitter,
// and what a deferral becomes under [retry] auto (max_retries, max_lifetime).
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { duration } from "../../src/config/schema.ts";
import { classifyError, ERROR_CLASSES, errorKind } from "../../src/engine/error-classes.ts";
import { afterDeferral, backoffSeconds, formatDuration, retryPolicy, type RetryPolicy } from "../../src/engine/retry-policy.ts";
import { classifyDatabaseError } from "../../src/db/connect.ts";
import { ConfigError, TempFailError } from "../../src/errors.ts";
import mysql from "mysql2/promise";
import { tempDir, testDatabase } from "../helpers/db.ts";
import { testFor } from "../helpers/dialects.ts";
import { writeConfig } from "../helpers/cli.ts";

/** An error shaped as nodemailer builds them (smtp-connection _formatError). */
const smtp = (code: string, command: string, responseCode?: number, extra: object = {}) =>
  Object.assign(new Error(`${code} ${responseCode ?? ""}`), { code, command, ...(responseCode ? { responseCode } : {}), ...extra });

describe("error classes", () => {
  const cases: Array<[string, unknown, string, boolean]> = [
    // [what, error, kind, permanent when permanent_on_5xx = true]
    ["421 at end of DATA", smtp("EMESSAGE", "DATA", 421), "reply-4xx", false],
    ["451 at end of DATA", smtp("EMESSAGE", "DATA", 451), "reply-4xx", false],
    ["452 to RCPT TO", smtp("EENVELOPE", "RCPT TO", 452), "reply-4xx", false],
    ["550 at end of DATA", smtp("EMESSAGE", "DATA", 550), "message-5xx", true],
    ["554 at end of DATA", smtp("EMESSAGE", "DATA", 554), "message-5xx", true],
    ["552 to MAIL FROM", smtp("EENVELOPE", "MAIL FROM", 552), "sender-5xx", true],
    ["503 bad sequence", smtp("EENVELOPE", "RCPT TO", 503), "reply-503", false],
    ["554 greeting", smtp("EPROTOCOL", "CONN", 554), "server-5xx", false],
    ["535 authentication", smtp("EAUTH", "AUTH PLAIN", 535), "auth", false],
    ["a message over the announced SIZE", smtp("EMESSAGE", "MAIL FROM"), "message-too-large", true],
    ["connection dropped", smtp("ECONNECTION", "CONN"), "connection", false],
    ["connection refused", Object.assign(new Error("refused"), { code: "ESOCKET", originalCode: "ECONNREFUSED", syscall: "connect" }), "connection", false],
    ["a bare Node socket error", Object.assign(new Error("reset"), { code: "ECONNRESET", syscall: "read" }), "connection", false],
    ["timeout", smtp("ETIMEDOUT", "CONN"), "timeout", false],
    ["certificate not trusted", smtp("ETLS", "CONN"), "tls", false],
    ["a bug in a transport module", new TypeError("x is undefined"), "unexpected", false],
    ["a thrown string", "boom", "unexpected", false],
  ];
  for (const [what, error, kind, permanent] of cases) {
    test(`${what} is ${kind}${permanent ? ", permanent only when permanent_on_5xx" : ", always temporary"}`, () => {
      expect(errorKind(error)).toBe(kind as never);
      expect(classifyError(error, true).permanent).toBe(permanent);
      expect(classifyError(error, false).permanent).toBe(false);
    });
  }

  test("every recipient refused: permanent only when every refusal was a 5xx (503 excepted)", () => {
    const refusal = (...codes: number[]) =>
      smtp("EENVELOPE", "RCPT TO", codes[0], { rejectedErrors: codes.map((c) => ({ responseCode: c })) });
    expect(classifyError(refusal(550, 553), true)).toMatchObject({ kind: "recipient-5xx", permanent: true });
    expect(classifyError(refusal(550, 450), true)).toMatchObject({ kind: "reply-4xx", permanent: false });
    expect(classifyError(refusal(503), true)).toMatchObject({ kind: "reply-503", permanent: false });
  });

  test("a refusal without any reply code is never taken as permanent", () => {
    expect(classifyError(Object.assign(new Error("refused"), { code: "EENVELOPE", rejected: ["a@x"] }), true)).toMatchObject({
      kind: "rejected",
      permanent: false,
    });
  });

  test("only refusals of the message itself can be permanent", () => {
    const permanentKinds = Object.entries(ERROR_CLASSES).filter(([, c]) => c.temporary === "on_5xx").map(([k]) => k);
    expect(permanentKinds.sort()).toEqual(["message-5xx", "message-too-large", "recipient-5xx", "sender-5xx", "unsupported"]);
  });

  test("a message the server cannot take as it is (EUNSUPPORTED) is its own kind, a delivery error", () => {
    const error = Object.assign(new Error("the server does not offer SMTPUTF8"), { code: "EUNSUPPORTED", command: "MAIL FROM" });
    expect(classifyError(error, false)).toMatchObject({ kind: "unsupported", permanent: false });
    expect(classifyError(error, true)).toMatchObject({ kind: "unsupported", permanent: true });
  });
});

describe("durations", () => {
  const parse = duration(0);
  for (const [raw, seconds] of [[300, 300], ["90s", 90], ["5m", 300], ["1h", 3600], ["5d", 432000], ["1h30m", 5400], ["0.5s", 0.5]] as const) {
    test(`${JSON.stringify(raw)} is ${seconds} s`, () => expect(parse(raw, false)).toEqual({ value: seconds }));
  }
  test("an environment value may be plain seconds", () => expect(parse("120", true)).toEqual({ value: 120 }));
  for (const bad of ["5 minutes", "m", "-5m", "5w", "", true, -1, [1]]) {
    test(`${JSON.stringify(bad)} is refused with what is expected`, () => {
      expect(parse(bad, false)).toEqual({ expected: expect.stringContaining('"5m"') });
    });
  }
  test("formatDuration writes them back compactly", () => {
    expect([432000, 5400, 90, 0].map(formatDuration)).toEqual(["5d", "1h30m", "1m30s", "0s"]);
  });

  test("a bad [retry] value is a config error naming the file, line and key", () => {
    const dir = tempDir();
    try {
      const path = writeConfig(dir.path, `[retry]\nauto = true\nmin_backoff = "soon"\n`);
      expect(() => loadConfig({ path, env: {} })).toThrow(ConfigError);
      expect(() => loadConfig({ path, env: {} })).toThrow(`${path}:3: retry.min_backoff: expected a duration`);
      writeConfig(dir.path, `[retry]\nmin_backoff = "2h"\nmax_backoff = "1h"\n`);
      expect(() => loadConfig({ path, env: {} })).toThrow("retry.min_backoff: must not be longer than retry.max_backoff");
    } finally {
      dir.cleanup();
    }
  });
});

describe("backoff and giving up", () => {
  const policy = (more: Partial<RetryPolicy> = {}): RetryPolicy => ({
    auto: true, permanentOn5xx: false, minBackoff: 300, maxBackoff: 3600, maxLifetime: 5 * 86400, jitter: 0,
    maxRetries: null, random: () => 0.5, ...more,
  });

  test("the wait doubles per retry from min_backoff and stops at max_backoff", () => {
    expect([0, 1, 2, 3, 4, 5, 60].map((n) => backoffSeconds(policy(), n))).toEqual([300, 600, 1200, 2400, 3600, 3600, 3600]);
  });

  test("jitter varies the wait within +/- the fraction, never past max_backoff", () => {
    const low = policy({ jitter: 0.2, random: () => 0 });
    const high = policy({ jitter: 0.2, random: () => 0.999999 });
    expect(backoffSeconds(low, 0)).toBeCloseTo(240, 3);
    expect(backoffSeconds(high, 0)).toBeCloseTo(360, 3);
    expect(backoffSeconds(high, 10)).toBe(3600);
  });

  const added = new Date("2026-01-01T00:00:00Z");
  const at = (ms: number) => new Date(added.getTime() + ms);

  test("without auto a deferral waits for retry-deferred: no next attempt time", () => {
    expect(afterDeferral(policy({ auto: false }), { retry_count: 9, when_added: added.toISOString() }, at(0))).toEqual({
      status: "deferred",
      nextAttemptAt: null,
    });
  });

  test("with auto a deferral is due again after the backoff", () => {
    const next = afterDeferral(policy(), { retry_count: 1, when_added: added }, at(1000));
    expect(next).toEqual({ status: "deferred", nextAttemptAt: at(1000 + 600_000) });
  });

  test("the last attempt falls on the end of the lifetime; a deferral after it fails the message", () => {
    const lifetime = 3600;
    const p = policy({ maxLifetime: lifetime, minBackoff: 3000, maxBackoff: 3000 });
    expect(afterDeferral(p, { retry_count: 0, when_added: added }, at(2000_000))).toEqual({
      status: "deferred",
      nextAttemptAt: at(lifetime * 1000),
    });
    const late = afterDeferral(p, { retry_count: 1, when_added: added }, at(lifetime * 1000));
    expect(late).toMatchObject({ status: "failed", reason: expect.stringContaining("max_lifetime (1h)") });
  });

  test("max_lifetime = 0 means no limit", () => {
    expect(afterDeferral(policy({ maxLifetime: 0 }), { retry_count: 0, when_added: added }, at(365 * 86_400_000)).status).toBe("deferred");
  });

  test("max_retries bounds automatic retries too", () => {
    const p = policy({ maxRetries: 2 });
    expect(afterDeferral(p, { retry_count: 1, when_added: added }, at(0)).status).toBe("deferred");
    expect(afterDeferral(p, { retry_count: 2, when_added: added }, at(0))).toMatchObject({
      status: "failed",
      reason: "given up after 2 retries (delivery.max_retries = 2)",
    });
  });

  test("the policy is read from [retry] and delivery.max_retries, defaults off", () => {
    const { config } = loadConfig({ env: {}, cwd: "/nonexistent", systemPath: "/nonexistent/mailer.toml" });
    expect(retryPolicy(config)).toMatchObject({
      auto: false, permanentOn5xx: false, minBackoff: 300, maxBackoff: 3600, maxLifetime: 432000, jitter: 0.2, maxRetries: null,
    });
  });
});

describe("database errors that mean 'try again' (exit 75), not a crash", () => {
  const cases: Array<[string, object]> = [
    ["SQLite extended I/O error (a full disk seen as EFBIG/EIO)", { code: "SQLITE_IOERR_WRITE", message: "disk I/O error" }],
    ["SQLite full", { code: "SQLITE_FULL", message: "database or disk is full" }],
    ["SQLite extended read-only code", { code: "SQLITE_READONLY_DBMOVED", message: "attempt to write a readonly database" }],
    ["SQLite busy with a plain message", { code: "SQLITE_BUSY_SNAPSHOT", message: "database is locked" }],
    ["PostgreSQL read-only transaction (a standby after failover)", { code: "25006", message: "cannot execute INSERT in a read-only transaction" }],
    ["PostgreSQL disk full", { code: "53100", message: "could not extend file: No space left on device" }],
    ["MariaDB connection lost (mysql2)", { code: "PROTOCOL_CONNECTION_LOST", message: "Connection lost: The server closed the connection." }],
    ["MariaDB shutting down", { code: "ER_SERVER_SHUTDOWN", errno: 1053, message: "Server shutdown in progress" }],
    ["MariaDB read-only (a replica after failover)", { code: "ER_OPTION_PREVENTS_STATEMENT", errno: 1290, message: "The MariaDB server is running with the --read-only option so it cannot execute this statement" }],
  ];
  for (const [what, error] of cases) {
    test(what, () => {
      expect(classifyDatabaseError(Object.assign(new Error((error as { message: string }).message), error), "db")).toBeInstanceOf(TempFailError);
    });
  }
  test("a real bug stays a bug", () => {
    expect(classifyDatabaseError(new TypeError("x is undefined"), "db")).toBeNull();
  });
});

describe("MariaDB's deadlock and lock-wait errors, as the server raises them", () => {
  const it = testFor("mariadb");
  it("1213 (deadlock victim) and 1205 (lock wait timeout) are 'try again' (exit 75)", async () => {
    const database = await testDatabase("mariadb");
    const [a, b] = await Promise.all([mysql.createConnection({ uri: database.url }), mysql.createConnection({ uri: database.url })]);
    try {
      await a.query("create table t (id int primary key, v int) engine = InnoDB");
      await a.query("insert into t values (1, 0), (2, 0)");
      // Each holds one row and asks for the other's: the server rolls one of them back.
      await a.beginTransaction();
      await b.beginTransaction();
      await a.query("update t set v = 1 where id = 1");
      await b.query("update t set v = 1 where id = 2");
      const crossed = await Promise.allSettled([a.query("update t set v = 2 where id = 2"), b.query("update t set v = 2 where id = 1")]);
      const deadlock = crossed.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect((deadlock.reason as { errno: number }).errno).toBe(1213);
      expect(classifyDatabaseError(deadlock.reason, "db")).toBeInstanceOf(TempFailError);
      await a.rollback();
      await b.rollback();

      await b.query("set innodb_lock_wait_timeout = 1");
      await a.beginTransaction();
      await a.query("update t set v = 3 where id = 1");
      const waited = await b.query("update t set v = 3 where id = 1").catch((error: unknown) => error);
      expect((waited as { errno: number }).errno).toBe(1205);
      expect(classifyDatabaseError(waited, "db")).toBeInstanceOf(TempFailError);
      await a.rollback();
    } finally {
      await Promise.all([a.end(), b.end()]);
      await database.cleanup();
    }
  });
});
