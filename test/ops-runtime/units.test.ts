// The pieces behind hot reload, logs and the progress line, in process: fast, and with an injected
// clock where timing matters.
import { describe, expect, test } from "bun:test";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configChanges } from "../../src/config/diff.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { watchConfig } from "../../src/config/watch.ts";
import type { Attempt } from "../../src/engine/attempt.ts";
import { logOutcome, outcomeOf } from "../../src/engine/outcome.ts";
import { formatDuration, formatProgress, ProgressLine } from "../../src/engine/progress.ts";
import { createLogger, memoryLogger, switchableLogger } from "../../src/log.ts";
import { logSecrets } from "../../src/log-secrets.ts";
import { maskAuth, nodemailerLogger } from "../../src/transports/nodemailer-log.ts";
import { tempDir } from "../helpers/db.ts";
import { until } from "../helpers/wait.ts";

const configFrom = (text: string, env: Record<string, string> = {}): Config => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "mailer.toml"), text);
    return loadConfig({ path: join(dir.path, "mailer.toml"), env }).config;
  } finally {
    dir.cleanup();
  }
};

describe("progress line", () => {
  test("formats count, rate and ETA; leaves the ETA out once past the total", () => {
    expect(formatProgress({ sent: 1234, deferred: 0, failed: 0, dontSend: 0 }, 10000, 3.5)).toBe("1234/10000 sent, 353 msg/s, ETA 25 s");
    expect(formatProgress({ sent: 90, deferred: 5, failed: 1, dontSend: 4 }, 1000, 20)).toBe(
      "90/1000 sent, 5 deferred, 1 failed, 5.0 msg/s, ETA 3 min 0 s",
    );
    expect(formatProgress({ sent: 120, deferred: 0, failed: 0, dontSend: 0 }, 100, 1)).toBe("120/120 sent, 120 msg/s");
    expect(formatDuration(7325)).toBe("2 h 2 min");
  });

  test("appears only past the threshold, redraws at most once per interval, keeps log lines above it", () => {
    let now = 0;
    const out: string[] = [];
    const line = new ProgressLine({ total: 500, write: (t) => out.push(t), now: () => now, threshold: 3, intervalMs: 1000 });
    line.above("a log line");
    expect(out).toEqual(["a log line\n"]); // nothing drawn yet: printed as is
    line.record({ result: "sent" });
    now = 500;
    line.record({ result: "sent" });
    expect(out).toHaveLength(1);
    line.record({ result: "deferred" }); // third outcome: drawn at once
    expect(out[1]).toBe("\r\x1b[K2/500 sent, 1 deferred, 6.0 msg/s, ETA 1 min 23 s");
    now = 900;
    line.record({ result: "sent" }); // within the interval: not redrawn
    expect(out).toHaveLength(2);
    now = 1600;
    line.record({ result: "sent" });
    expect(out[2]).toStartWith("\r\x1b[K4/500 sent");
    line.above("another");
    expect(out[3]).toBe(`\r\x1b[Kanother\n${out[2]!.slice(4)}`);
    line.clear();
    expect(out[4]).toBe("\r\x1b[K");
  });
});

describe("logger", () => {
  test("scrubs secrets in every form from finished lines, masks URL passwords, keeps text to one line", () => {
    const config = configFrom('[backend]\nuser = "mailer"\npassword_env = "PW"\n', { PW: "pa\"ss-word-9" });
    const secrets = logSecrets(config);
    const lines: string[] = [];
    for (const format of ["json", "text"] as const) {
      const logger = createLogger({ format, write: (l) => lines.push(l), secrets });
      logger.info(`server said: pa"ss-word-9 / ${Buffer.from('pa"ss-word-9').toString("base64")}`);
      logger.warn("plain", { detail: Buffer.from('\0mailer\0pa"ss-word-9').toString("base64") });
      logger.error("connect postgres://u:db-pass@h/x failed\nsecond line");
    }
    const all = lines.join("\n");
    expect(all).not.toContain("ss-word-9");
    expect(all).not.toContain(Buffer.from('pa"ss-word-9').toString("base64"));
    expect(all).not.toContain(Buffer.from('\0mailer\0pa"ss-word-9').toString("base64"));
    expect(all).not.toContain("db-pass");
    expect(all).toContain("postgres://u:***@h/x");
    expect(lines).toHaveLength(6);
    expect(lines[5]).toContain("failed\\nsecond line");
    for (const line of lines.slice(0, 3)) JSON.parse(line);
  });

  test("a switchable logger changes level and format for everything holding it, children included", () => {
    const lines: string[] = [];
    const logger = switchableLogger(createLogger({ level: "info", write: (l) => lines.push(l) }));
    const child = logger.child({ component: "x" });
    child.debug("hidden");
    logger.use(createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) }));
    expect(child.level).toBe("debug");
    child.debug("shown", { n: 1 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "debug", msg: "shown", component: "x", n: 1 });
  });

  test("nodemailer's logger reaches ours at debug only, formatted, AUTH payloads masked", () => {
    const debug = memoryLogger("debug");
    const adapter = nodemailerLogger(debug);
    adapter.info({ tnx: "network", cid: 3 }, "Connection established to %s:%s", "127.0.0.1", 25);
    adapter.debug({ tnx: "client" }, "AUTH PLAIN AG1haWxlcgBwYXNz");
    adapter.debug({ tnx: "client" }, "AUTH PLAIN /* secret */");
    expect(debug.lines.map((l) => JSON.parse(l))).toMatchObject([
      { level: "debug", msg: "nodemailer: Connection established to 127.0.0.1:25", tnx: "network", cid: 3 },
      { level: "debug", msg: "nodemailer: AUTH PLAIN /* secret */", tnx: "client" },
      { level: "debug", msg: "nodemailer: AUTH PLAIN /* secret */", tnx: "client" },
    ]);
    const info = memoryLogger("info");
    nodemailerLogger(info).error({}, "boom");
    expect(info.lines).toHaveLength(0);
    expect(maskAuth("AUTH LOGIN")).toBe("AUTH LOGIN");
  });
});

describe("per-message outcome lines", () => {
  const row = { id: 7, envelope_to: "a@example.com, b@example.com" } as unknown as Attempt["row"];
  const attempt = (over: Partial<Attempt>): Attempt => ({
    row, raw: new Uint8Array(), messageId: "<m@x>", delivered: [], deliveredNote: "", suppressed: [],
    remaining: [], state: "done", error: "", ...over,
  });

  test("one result per attempt: sent, deferred with its error, failed, dont_send; released is not an outcome", () => {
    expect(outcomeOf(attempt({ delivered: ["a@example.com", "b@example.com"] }), 12.345)).toEqual({
      id: 7, message_id: "<m@x>", result: "sent", duration_ms: 12.3, recipients: 2, delivered: 2,
    });
    const deferred = outcomeOf(attempt({ state: "deferred", remaining: ["a@example.com"], delivered: ["b@example.com"], error: "451 later" }), 1)!;
    expect(deferred).toMatchObject({ result: "deferred", error: "451 later", delivered: 1, recipients: 2 });
    expect(outcomeOf(attempt({ state: "failed", remaining: ["a@example.com"], error: "550 no" }), 1)).toMatchObject({ result: "failed" });
    expect(outcomeOf(attempt({ suppressed: ["a@example.com", "b@example.com"] }), 0)).toMatchObject({ result: "dont_send", recipients: 2 });
    expect(outcomeOf(attempt({ state: "released" }), 0)).toBeNull();
  });

  test("unexpected errors are logged at error level, the rest at info", () => {
    const logger = memoryLogger("debug");
    logOutcome(logger, outcomeOf(attempt({ state: "deferred", error: "unexpected error: bug" }), 1)!);
    logOutcome(logger, outcomeOf(attempt({ state: "deferred", error: "451 later" }), 1)!);
    expect(logger.lines.map((l) => JSON.parse(l).level)).toEqual(["error", "info"]);
  });
});

describe("config reload", () => {
  test("changes are listed by key; secrets only as changed, database passwords masked", () => {
    const before = configFrom('[backend]\npassword = "old-pw-1"\n[database]\nurl = "postgres://u:dbpw1@h/x"\n');
    const after = configFrom('[backend]\npassword = "new-pw-2"\nport = 2525\n[database]\nurl = "postgres://u:dbpw2@h/x"\n');
    const changes = configChanges(before, after);
    expect(changes).toContain("backend.port: 25 -> 2525");
    expect(changes).toContain("backend.password (changed)");
    expect(changes).toContain('database.url: "postgres://u:***@h/x" -> "postgres://u:***@h/x"');
    expect(changes.join(" ")).not.toMatch(/old-pw|new-pw|dbpw/);
  });

  /** Resolves with the next value passed to `push`. */
  const channel = <T>() => {
    const queue: T[] = [];
    const waiting: Array<(v: T) => void> = [];
    return {
      push: (v: T) => (waiting.shift() ?? ((x: T) => queue.push(x)))(v),
      next: (ms = 10_000) =>
        new Promise<T>((resolve, reject) => {
          if (queue.length) return resolve(queue.shift()!);
          const timer = setTimeout(() => reject(new Error("timed out")), ms);
          waiting.push((v) => (clearTimeout(timer), resolve(v)));
        }),
    };
  };

  test("the watcher applies a valid save, reports an invalid one and one its receiver refuses", async () => {
    const dir = tempDir();
    const file = join(dir.path, "mailer.toml");
    // Saved whole (renamed over the file), so one save is one event however slow the machine.
    const save = (text: string) => {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    };
    save("[delivery]\nmax_batch = 1\n");
    const events = channel<string>();
    const logger = createLogger({ level: "debug", format: "json", write: (l) => {
      const { msg } = JSON.parse(l);
      if (!msg.startsWith("watching")) events.push(msg);
    } });
    let refuse = false;
    const watcher = watchConfig({
      config: loadConfig({ path: file }).config,
      logger,
      debounceMs: 50,
      onChange: (next) => {
        if (refuse) throw new Error("not today");
        events.push(`applied max_batch=${next.delivery.max_batch}`);
      },
    });
    try {
      save("[delivery]\nmax_batch = 2\n");
      expect(await events.next()).toBe("applied max_batch=2");
      save("[delivery]\nmax_batch = -1\n");
      expect(await events.next()).toMatch(/^config invalid, keeping the running config: .*delivery\.max_batch: expected an integer >= 0/);
      save("");
      expect(await events.next()).toBe("config file is empty, keeping the running config");
      refuse = true;
      save("[delivery]\nmax_batch = 3\n");
      expect(await events.next()).toBe("config not applied, keeping the running config: not today");
      refuse = false;
      await watcher.reload("SIGHUP"); // reload() resolves once the result is applied
      expect(await events.next(0)).toBe("applied max_batch=3");
    } finally {
      await watcher.close();
      dir.cleanup();
    }
  });

  test("a removed file is reported as removed and the running config kept; one that cannot be watched still reloads on SIGHUP", async () => {
    const dir = tempDir();
    const file = join(dir.path, "mailer.toml");
    writeFileSync(file, "[delivery]\nmax_batch = 1\n");
    const config = loadConfig({ path: file }).config;
    const logger = memoryLogger("debug");
    const applied: (number | null)[] = [];
    const watcher = watchConfig({ config, logger, debounceMs: 50, onChange: (next) => void applied.push(next.delivery.max_batch) });
    try {
      rmSync(file);
      await until(() => logger.lines.some((l) => l.includes("keeping the running config")), "the removal reported");
      const line = JSON.parse(logger.lines.find((l) => l.includes("keeping the running config"))!);
      expect(line).toMatchObject({ level: "error", msg: "config file is gone, keeping the running config", config: file, reason: "mailer.toml removed" });
      expect(applied).toEqual([]);
    } finally {
      await watcher.close();
    }

    // Its directory gone (an unmounted volume, say): no watch, a warning, and SIGHUP still works.
    rmSync(dir.path, { recursive: true });
    const unwatched = memoryLogger("debug");
    const blind = watchConfig({ config, logger: unwatched, onChange: (next) => void applied.push(next.delivery.max_batch) });
    expect(unwatched.lines.join("\n")).toMatch(/cannot watch .*mailer\.toml for changes \(reload with SIGHUP instead\)/);
    mkdirSync(dir.path);
    writeFileSync(file, "[delivery]\nmax_batch = 7\n");
    await blind.reload("SIGHUP");
    await blind.close();
    dir.cleanup();
    expect(applied).toEqual([7]);
  });

  test("with no config file there is nothing to watch; reload() still re-reads", async () => {
    const logger = memoryLogger("debug");
    const seen: Config[] = [];
    const dir = tempDir();
    const watcher = watchConfig({
      config: loadConfig({ cwd: dir.path, systemPath: "/nonexistent", env: {} }).config,
      load: { cwd: dir.path, systemPath: "/nonexistent", env: {} },
      logger,
      onChange: (next) => void seen.push(next),
    });
    await watcher.reload();
    await watcher.close();
    dir.cleanup();
    expect(logger.lines.join("\n")).toContain("nothing to watch");
    expect(seen).toHaveLength(1);
  });
});
