// `mailer web` as a command: where it may listen, what it needs, how it stops, and what it answers
// with the database gone. HTTP from fetch; the browser flows are in console.browser.test.ts.
import { afterEach, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { runMailer, writeConfig } from "../helpers/cli.ts";
import { createPgDatabase, tempDir } from "../helpers/db.ts";
import { pgAvailable, testFor } from "../helpers/dialects.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";
import { until } from "../helpers/wait.ts";
import { startConsole, type ConsoleProcess } from "../helpers/web-console.ts";

const dirs: Array<{ cleanup(): void }> = [];
let web: ConsoleProcess | null = null;
afterEach(async () => {
  if (web) expect(await web.stop()).toBe(0);
  web = null;
  for (const d of dirs.splice(0)) d.cleanup();
});

/** A mailer.toml in a fresh directory: `database` is the [database] url (default an SQLite file there). */
function config(text = "", database?: string) {
  const dir = tempDir("mailer-web-");
  dirs.push(dir);
  return writeConfig(dir.path, `[database]\nurl = "${database ?? `sqlite:${dir.path}/q.db`}"\n${text}`);
}

describe("mailer web", () => {
  test("refuses a non-loopback address without a password (exit 78), and listens there with --force", async () => {
    const path = config();
    const refused = await runMailer(["web", "--config", path, "--listen", "0.0.0.0:0"]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain("refusing to listen on 0.0.0.0:0 without a password");
    web = await startConsole(path, { args: ["--listen", "0.0.0.0:0", "--force"] });
    expect((await fetch(`http://127.0.0.1:${web.port}/`)).status).toBe(200);
  });

  test("a non-loopback address is fine with a password, and every page then needs a login", async () => {
    const path = config(`[web]\npassword_env = "CONSOLE_PW"\n`);
    web = await startConsole(path, { args: ["--listen", "0.0.0.0:0"], env: { CONSOLE_PW: "s3cret-pass" } });
    for (const path of ["/", "/messages", "/messages/1", "/log", "/dont-send", "/messages/1/html"]) {
      const response = await fetch(`http://127.0.0.1:${web.port}${path}`, { redirect: "manual" });
      expect(response.status).toBe(303);
      expect(response.headers.get("location")).toStartWith("/login?next=");
    }
    // The assets are public (the login page needs them); nothing else is.
    expect((await fetch(`http://127.0.0.1:${web.port}/assets/console.css`)).status).toBe(200);
  });

  test("an unset password_env, or a bad listen address, is a config error naming the key", async () => {
    const unset = await runMailer(["web", "--config", config(`[web]\npassword_env = "NOT_SET_ANYWHERE"\n`)]);
    expect(unset.code).toBe(78);
    expect(unset.stderr).toContain("web.password_env: environment variable NOT_SET_ANYWHERE is not set");
    const bad = await runMailer(["web", "--config", config(`[web]\nlisten = "nowhere"\n`)]);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain("web.listen: expected host:port");
  });

  test("a port already taken is a clear error, exit 78", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const result = await runMailer(["web", "--config", config(), "--listen", `127.0.0.1:${port}`]);
      expect(result.code).toBe(78);
      expect(result.stderr).toContain(`web: cannot listen on 127.0.0.1:${port}`);
    } finally {
      taken.close();
    }
  });

  test("without a password on loopback: no login, but a session whose CSRF token guards every change", async () => {
    const path = config();
    web = await startConsole(path);
    const page = await fetch(`${web.url}/dont-send`);
    expect(page.status).toBe(200);
    const cookie = page.headers.get("set-cookie")!.split(";")[0]!;
    const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const add = (extra: string) =>
      fetch(`${web!.url}/dont-send/add`, {
        method: "POST", redirect: "manual", body: `address=x%40example.com${extra}`,
        headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie },
      });
    expect((await add("")).status).toBe(403);
    expect((await add(`&_csrf=${encodeURIComponent(token)}`)).status).toBe(303);
    expect((await runMailer(["dont-send", "list", "--config", path])).stdout).toStartWith("x@example.com\t");
  });

  test("every page carries the security headers; SIGTERM stops it with exit 0", async () => {
    web = await startConsole(config());
    const response = await fetch(`${web.url}/messages`);
    const csp = response.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const stopped = web;
    web = null;
    expect(await stopped.stop()).toBe(0);
    expect(stopped.lines.some((l) => l.includes("web console stopping"))).toBe(true);
  });

  testFor("postgres")("answers 503 with Retry-After while PostgreSQL is unreachable, and recovers when it is back", async () => {
    if (!pgAvailable) return;
    const pg = await createPgDatabase();
    const url = new URL(pg.url);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    try {
      url.port = String(proxy.port);
      const path = config("", url.toString());
      expect((await runMailer(["migrate", "--config", path])).code).toBe(0);
      web = await startConsole(path);
      expect((await fetch(`${web.url}/`)).status).toBe(200);
      proxy.down();
      const down = await fetch(`${web.url}/messages`);
      expect(down.status).toBe(503);
      expect(down.headers.get("retry-after")).toBe("5");
      expect(await down.text()).toContain("The database is unavailable");
      proxy.up();
      await until(async () => (await fetch(`${web!.url}/messages`)).status === 200, "the console answers again");
    } finally {
      if (web) expect(await web.stop()).toBe(0);
      web = null;
      await proxy.close();
      await pg.drop();
    }
  });
});
