// The console's login pieces without a server: idle sessions end, guessing is slowed down, secrets
// compare in constant time, and [web]'s password follows the same rules as every other secret.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoginThrottle, Sessions, sameSecret } from "../../src/web/auth.ts";
import { contentDisposition } from "../../src/web/message-view.ts";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";

describe("console login", () => {
  test("a session ends after session_timeout without a request; each request restarts the clock", () => {
    let now = 0;
    const sessions = new Sessions(1000, () => now);
    const s = sessions.create("ops");
    now = 900;
    expect(sessions.get(s.id)?.user).toBe("ops");
    now = 1800; // 900 ms after the last request
    expect(sessions.get(s.id)).not.toBeNull();
    now = 2801;
    expect(sessions.get(s.id)).toBeNull();
    expect(sessions.get(undefined)).toBeNull();
    expect(sessions.create("a").csrf).not.toBe(sessions.create("a").csrf);
  });

  test("at most 10,000 sessions: the oldest make room", () => {
    const sessions = new Sessions(60_000);
    const first = sessions.create("a");
    for (let i = 0; i < 10_000; i++) sessions.create("b");
    expect(sessions.get(first.id)).toBeNull();
  });

  test("three failures are free; then each attempt waits 2 s, doubling, capped at 5 min; success clears it", () => {
    let now = 0;
    const throttle = new LoginThrottle(() => now);
    for (let i = 0; i < 2; i++) throttle.failed("10.0.0.1");
    expect(throttle.waitFor("10.0.0.1")).toBe(0);
    throttle.failed("10.0.0.1");
    expect(throttle.waitFor("10.0.0.1")).toBe(2000);
    expect(throttle.waitFor("10.0.0.2")).toBe(0); // per client address
    now = 2000;
    throttle.failed("10.0.0.1");
    expect(throttle.waitFor("10.0.0.1")).toBe(4000);
    for (let i = 0; i < 20; i++) throttle.failed("10.0.0.1");
    expect(throttle.waitFor("10.0.0.1")).toBe(300_000);
    throttle.succeeded("10.0.0.1");
    expect(throttle.waitFor("10.0.0.1")).toBe(0);
  });

  test("sameSecret tells equal from unequal whatever the lengths", () => {
    expect(sameSecret("pw", "pw")).toBe(true);
    expect(sameSecret("pw", "pw2")).toBe(false);
    expect(sameSecret("", "pw")).toBe(false);
  });

  test("an attachment's name survives Content-Disposition, quotes and all, and cannot break out of it", () => {
    expect(contentDisposition('re"port\r\n.pdf')).toBe(`attachment; filename="re_port__.pdf"; filename*=UTF-8''re%22port%0D%0A.pdf`);
    expect(contentDisposition("Zoë.txt")).toBe(`attachment; filename="Zo_.txt"; filename*=UTF-8''Zo%C3%AB.txt`);
  });
});

describe("[web] password", () => {
  const load = (toml: string, env: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "mailer-web-config-"));
    try {
      writeFileSync(join(dir, "mailer.toml"), toml, { mode: 0o600 });
      return loadConfig({ path: join(dir, "mailer.toml"), env, uses: ["web"] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test("password_env naming MAILER_WEB_PASSWORD, the variable that also overrides web.password, is one secret, not two", () => {
    const { config } = load(`[web]\npassword_env = "MAILER_WEB_PASSWORD"\n`, { MAILER_WEB_PASSWORD: "pw-from-env" });
    expect(config.web.password).toBe("pw-from-env");
  });

  test("two different sources are still refused", () => {
    expect(() => load(`[web]\npassword = "in-file"\npassword_env = "OTHER"\n`, { OTHER: "x" })).toThrow(ConfigError);
  });
});
