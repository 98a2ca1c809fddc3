// The console as an operator uses it: the compiled binary's `mailer web` on a loopback port, a real
// headless Chromium, a real SMTP sink, and the database checked directly after each action.
import { afterAll, afterEach, beforeAll, beforeEach, expect } from "bun:test";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { runMailer } from "../helpers/cli.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";
import { startConsole, type ConsoleProcess } from "../helpers/web-console.ts";
import { openQueue } from "../../src/index.ts";

const PASSWORD = "correct horse battery staple";
/** Screenshots for docs/web.md when MAILER_SCREENSHOTS=1 (npm run screenshots), else a scratch dir. */
const SHOTS = process.env.MAILER_SCREENSHOTS === "1" ? resolve(import.meta.dir, "../../docs/web") : null;

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let sink: Sink;
  let web: ConsoleProcess | null = null;
  let context: BrowserContext;

  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    sink = await startSink();
    tq = await testQueue(dialect, "");
    const dir = tq.dir;
    const toml = `[database]\nurl = "${tq.url}"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n[lock]\npath = "${join(dir, "send_mail")}"\n` +
      `[web]\nuser = "ops"\npassword_env = "MAILER_WEB_PASSWORD"\n[queue]\ndefault_domain = "example.org"\naliases = ""\n`;
    await Bun.write(tq.config, toml);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });
  afterEach(async () => {
    await context?.close();
    if (web) expect(await web.stop()).toBe(0);
    web = null;
    await sink?.close();
    await tq?.cleanup();
  });

  const start = async () => (web = await startConsole(tq.config, { env: { MAILER_WEB_PASSWORD: PASSWORD } }));
  const enqueue = async (mails: Array<Record<string, unknown>>) => {
    const queue = await openQueue({ config: tq.config });
    try {
      return await queue.enqueueMany(mails as never);
    } finally {
      await queue.close();
    }
  };
  const statuses = async () => {
    const rows = await (await tq.db()).kysely.selectFrom("mailer_message").select(["id", "status", "priority"]).orderBy("id").execute();
    return rows.map((r) => ({ id: Number(r.id), status: r.status, priority: r.priority }));
  };
  const setStatus = async (ids: number[], status: "deferred" | "failed") =>
    (await tq.db()).kysely.updateTable("mailer_message").set({ status, last_error: `made ${status} by the test` }).where("id", "in", ids).execute();
  const login = async (page: Page) => {
    await page.goto(web!.url + "/");
    await page.fill("input[name=user]", "ops");
    await page.fill("input[name=password]", PASSWORD);
    await page.click("button[type=submit]");
    await page.waitForURL(web!.url + "/");
  };
  /** Clicks a link or button that loads the next page and waits for that page's load event. click()
   * alone returns once the navigation commits, and a count() made then reads whatever part of the
   * new page the parser has reached. */
  const clickThrough = async (page: Page, selector: string) => {
    await Promise.all([page.waitForEvent("load"), page.click(selector)]);
  };
  const shot = async (page: Page, name: string) => {
    const dir = SHOTS ?? join(tq.dir, "shots");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: name !== "messages" });
    expect(Bun.file(file).size).toBeGreaterThan(5000);
  };

  it("asks for a login, sets a strict HttpOnly session cookie, and shows the counts status --json prints", async () => {
    // Some history for the activity chart: four delivered, one refused for good by the sink.
    sink.onRecipient = (address) => (address.startsWith("nobody") ? { code: 550, message: "no such user" } : undefined);
    await enqueue([...Array.from({ length: 4 }, (_, i) => ({ from: "app@example.com", to: `welcome${i}@example.com`, subject: "Welcome", text: "x" })),
      { from: "app@example.com", to: "nobody@example.com", subject: "Welcome", text: "x" }]);
    expect((await runMailer(["send-mail", "--config", tq.config])).stdout).toContain("4 sent, 1 deferred");
    const ids = (await enqueue([
      ...Array.from({ length: 7 }, (_, i) => ({ from: "app@example.com", to: `user${i}@example.com`, subject: `normal ${i}`, text: "x" })),
      { from: "app@example.com", to: "vip@example.com", subject: "urgent", text: "x", priority: "high" },
      { from: "app@example.com", to: "later@example.com", subject: "low", text: "x", priority: "low" },
    ])).map((o) => o.id!);
    await setStatus(ids.slice(0, 2), "deferred");
    await setStatus(ids.slice(2, 3), "failed");
    await start();
    const page = await context.newPage();
    await page.goto(web!.url + "/messages?status=failed");
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.fill("input[name=user]", "ops");
    await page.fill("input[name=password]", PASSWORD);
    await page.click("button[type=submit]");
    // Back where the operator was going.
    await page.waitForURL(/\/messages\?status=failed$/);
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: "mailer_session", httpOnly: true, sameSite: "Strict" });

    await page.goto(web!.url + "/");
    const status = JSON.parse((await runMailer(["status", "--json", "--config", tq.config])).stdout);
    const card = async (label: string) => (await page.locator(".card", { hasText: label }).locator(".n").innerText()).trim();
    expect(await card("queued (sendable now)")).toBe(String(status.queued));
    expect(await card("deferred")).toBe(String(status.deferred));
    expect(await card("failed")).toBe(String(status.failed));
    expect(status).toMatchObject({ queued: 6, deferred: 3, failed: 1, log: { success: 4, failure: 1 } });
    expect(await page.locator("figure.chart figcaption").first().innerText()).toContain("4 sent, 1 deferred or failed");
    for (const p of ["high", "medium", "low"] as const) {
      expect(await page.locator("section[aria-label=priority] .card", { hasText: p }).locator(".n").innerText()).toBe(String(status.queued_by_priority[p]));
    }
    await shot(page, "dashboard");
  });

  it("finds one message among 10,000 by search, Message-ID and state, and pages through the rest", async () => {
    const mails = Array.from({ length: 10_000 }, (_, i) => ({
      from: "app@example.com", to: `customer${i}@example.net`, subject: `Invoice ${i}`, text: `invoice ${i}`,
      ...(i === 4321 ? { subject: "Password reset for Zoë", to: "needle@example.net", messageId: "<needle-4321@example.com>" } : {}),
    }));
    const ids = (await enqueue(mails)).map((o) => o.id!);
    await setStatus([ids[9000]!, ids[9001]!], "deferred");
    await start();
    const page = await context.newPage();
    await login(page);

    await page.goto(web!.url + "/messages");
    expect(await page.locator("table.messages tbody tr").count()).toBe(50);
    await shot(page, "messages");
    await page.fill("input[name=q]", "needle@EXAMPLE");
    await clickThrough(page, "form[role=search] button");
    const rows = page.locator("table.messages tbody tr");
    expect(await rows.count()).toBe(1);
    expect(await rows.first().innerText()).toContain("Password reset for Zoë");

    await page.fill("input[name=q]", "<needle-4321@example.com>");
    await clickThrough(page, "form[role=search] button");
    expect(await rows.count()).toBe(1);
    expect(await rows.first().locator("td").nth(1).innerText()).toBe(String(ids[4321]));

    await page.goto(web!.url + "/messages");
    await clickThrough(page, "nav.tabs a:has-text('Deferred')");
    expect(await rows.count()).toBe(2);
    expect(await rows.allInnerTexts()).toEqual([expect.stringContaining("Invoice 9000"), expect.stringContaining("Invoice 9001")]);

    // Keyset pages: the second page starts right after the first, in the same order.
    await page.goto(web!.url + "/messages?status=queued&order=oldest");
    const firstPage = await rows.locator("td:nth-child(2)").allInnerTexts();
    await clickThrough(page, "a[rel=next]");
    const secondPage = await rows.locator("td:nth-child(2)").allInnerTexts();
    expect(firstPage.map(Number)).toEqual(ids.slice(0, 50));
    expect(secondPage.map(Number)).toEqual(ids.slice(50, 100));
  });

  it("'send now' on a deferred message delivers it to the SMTP sink and logs it", async () => {
    // Deferred the real way: the sink refuses it once during a send-mail pass.
    sink.onMessage = () => ({ code: 451, message: "try later" });
    const [queued] = await enqueue([{ from: "app@example.com", to: "ann@example.com", subject: "retry me", text: "hello ann" }]);
    const pass = await runMailer(["send-mail", "--config", tq.config]);
    expect(pass.stdout).toContain("0 sent, 1 deferred");
    expect(await statuses()).toEqual([{ id: queued!.id!, status: "deferred", priority: 2 }]);
    sink.onMessage = () => undefined;
    await start();
    const page = await context.newPage();
    await login(page);
    await page.goto(`${web!.url}/messages/${queued!.id}`);
    await clickThrough(page, "button[value=send_now]");
    await page.waitForSelector(".flash");
    expect(await page.locator(".flash").innerText()).toContain("1 sent, 0 deferred, 0 failed");
    const [received] = await sink.waitFor(1);
    expect(received!.to).toEqual(["ann@example.com"]);
    expect(received!.raw.toString()).toContain("hello ann");
    expect(await statuses()).toEqual([]);
    // The delivered message's page still shows it, from the log: recipients and every attempt.
    await page.goto(`${web!.url}/messages/${queued!.id}`);
    expect(await page.locator("dl.facts").innerText()).toContain("ann@example.com");
    expect(await page.locator("table tbody tr").count()).toBe(2); // the deferral and the delivery
  });

  it("bulk retry of ticked messages and delete of all matching (after a confirmation) change the database", async () => {
    const ids = (await enqueue(Array.from({ length: 6 }, (_, i) => ({ from: "app@example.com", to: `r${i}@example.com`, subject: i < 3 ? `bounce ${i}` : `keep ${i}`, text: "x" })))).map((o) => o.id!);
    await setStatus(ids.slice(0, 3), "failed");
    await start();
    const page = await context.newPage();
    await login(page);
    await page.goto(web!.url + "/messages?status=failed");
    await page.check("input[data-select-all]");
    await clickThrough(page, "button[value=retry]");
    expect(await page.locator(".flash").innerText()).toContain("3 of 3 message(s) re-queued");
    expect((await statuses()).map((s) => s.status)).toEqual(Array(6).fill("queued"));

    await page.goto(web!.url + "/messages?q=bounce");
    await page.check("input[name=scope][value=all]");
    await clickThrough(page, "button[value=delete]");
    await page.waitForSelector("text=Delete messages?");
    expect((await statuses()).length).toBe(6); // nothing gone before the confirmation
    await clickThrough(page, "button.danger:has-text('Delete')");
    expect(await page.locator(".flash").innerText()).toContain("3 message(s) deleted");
    expect((await statuses()).map((s) => s.id)).toEqual(ids.slice(3));

    await page.goto(web!.url + "/messages");
    await page.check(`input[name=ids][value="${ids[3]}"]`);
    await page.selectOption("select[name=new_priority]", "high");
    await clickThrough(page, "button[value=priority]");
    expect((await statuses()).find((s) => s.id === ids[3])!.priority).toBe(1);
  });

  it("shows hostile subject, headers, text and HTML as inert text: nothing runs, nothing is fetched", async () => {
    const hits: string[] = [];
    const listener = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (r) => (hits.push(r.url), new Response("x")) });
    const remote = `http://127.0.0.1:${listener.port}`;
    try {
      const [queued] = await enqueue([{
        from: "app@example.com", to: "victim@example.com",
        subject: `<img src=x onerror="window.__pwned='subject'"><script>window.__pwned='subject-script'</script>`,
        headers: { "X-Evil": `<script>window.__pwned='header'</script>"><svg onload="window.__pwned='svg'">` },
        text: `<script>window.__pwned='text'</script><img src="${remote}/text.png">`,
        html: `<p>Hi</p><script>window.parent.__pwned='html'; fetch('${remote}/script')</script>` +
          `<img src="${remote}/pixel.png"><img src=x onerror="window.parent.__pwned='onerror'">` +
          `<link rel="stylesheet" href="${remote}/style.css"><div style="background:url(${remote}/bg.png)">bg</div>` +
          `<iframe src="${remote}/frame"></iframe><meta http-equiv="refresh" content="0;url=${remote}/refresh">` +
          `<form action="${remote}/form"><input name=a></form><object data="${remote}/object"></object>`,
        attachments: [{ filename: `<script>x</script>.html`, content: `<script>window.__pwned='attachment'</script>` }],
      }]);
      // The same as a raw message, stored as sent: the markup is in the header block literally.
      const [rawQueued] = await enqueue([{
        raw: `From: app@example.com\r\nTo: victim@example.com\r\nSubject: <svg onload="window.__pwned='raw-subject'">\r\n` +
          `X-Evil: <script>window.__pwned='raw-header'</script><img src="${remote}/header.png">\r\n` +
          `Content-Type: text/html\r\n\r\n<img src="${remote}/raw-pixel.png"><script>window.parent.__pwned='raw-html'</script>\r\n`,
      }]);
      await start();
      const page = await context.newPage();
      const dialogs: string[] = [];
      page.on("dialog", (d) => void (dialogs.push(d.message()), d.dismiss()));
      await login(page);
      for (const path of [`/messages/${rawQueued!.id}`, `/messages/${queued!.id}`, "/messages", "/"]) {
        await page.goto(web!.url + path);
        await page.waitForLoadState("networkidle");
      }
      await page.goto(`${web!.url}/messages/${queued!.id}`);
      const frame = page.frameLocator("iframe.preview");
      expect(await frame.locator("p").innerText()).toBe("Hi");
      await page.waitForTimeout(1500); // room for a refresh or a late fetch to happen (it must not)
      expect(await page.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
      for (const f of page.frames()) expect(await f.evaluate(() => (globalThis as any).__pwned).catch(() => undefined)).toBeUndefined();
      expect(dialogs).toEqual([]);
      expect(hits).toEqual([]);
      // Shown as text, exactly.
      expect(await page.locator("dl.facts").innerText()).toContain(`<img src=x onerror="window.__pwned='subject'">`);
      expect(await page.locator("pre.headers").innerText()).toContain("X-Evil:");
      expect(await page.locator("pre.text").innerText()).toContain("<script>window.__pwned='text'</script>");
      await page.goto(`${web!.url}/messages/${rawQueued!.id}`);
      expect(await page.locator("pre.headers").innerText()).toContain(`X-Evil: <script>window.__pwned='raw-header'</script>`);
      expect(await page.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
      expect(hits).toEqual([]);
      // The attachment is a download, never a page on our origin.
      const response = await page.request.get(`${web!.url}/messages/${queued!.id}/attachments/0`);
      expect(response.headers()["content-type"]).toBe("application/octet-stream");
      expect(response.headers()["content-disposition"]).toStartWith("attachment;");
      await page.goto(`${web!.url}/messages/${queued!.id}`);
      await page.frameLocator("iframe.preview").locator("p").waitFor();
      await shot(page, "message");
    } finally {
      listener.stop(true);
    }
  });

  it("refuses a state change without the CSRF token or from another origin, and changes nothing", async () => {
    const [queued] = await enqueue([{ from: "app@example.com", to: "a@example.com", subject: "keep me", text: "x" }]);
    await start();
    const page = await context.newPage();
    await login(page);
    const cookie = (await context.cookies())[0]!;
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${web!.url}/messages/actions`, {
        method: "POST", redirect: "manual", body,
        headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: `${cookie.name}=${cookie.value}`, ...headers },
      });
    const noToken = await post(`action=delete&confirm=yes&ids=${queued!.id}`);
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toContain("CSRF");
    const token = await page.locator("input[name=_csrf]").first().getAttribute("value");
    const wrongToken = await post(`action=delete&confirm=yes&ids=${queued!.id}&_csrf=${encodeURIComponent(token + "x")}`);
    expect(wrongToken.status).toBe(403);
    const crossSite = await post(`action=delete&confirm=yes&ids=${queued!.id}&_csrf=${encodeURIComponent(token!)}`, { Origin: "http://evil.example" });
    expect(crossSite.status).toBe(403);
    const noSession = await fetch(`${web!.url}/messages/actions`, { method: "POST", redirect: "manual", body: `action=delete&confirm=yes&ids=${queued!.id}`, headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    expect(noSession.status).toBe(401);
    expect((await statuses()).map((s) => s.id)).toEqual([queued!.id!]);
    // The same request with the token goes through.
    const good = await post(`action=delete&confirm=yes&ids=${queued!.id}&_csrf=${encodeURIComponent(token!)}`);
    expect(good.status).toBe(303);
    expect(await statuses()).toEqual([]);
  });

  it("slows down guessing: after three wrong passwords even the right one waits; the password is never logged", async () => {
    await start();
    const page = await context.newPage();
    await page.goto(web!.url + "/login");
    for (let i = 0; i < 3; i++) {
      await page.fill("input[name=user]", "ops");
      await page.fill("input[name=password]", `wrong-guess-${i}`);
      const response = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/login") && r.request().method() === "POST"), page.click("button[type=submit]")]);
      expect(response[0].status()).toBe(401);
      expect(await page.locator(".flash").innerText()).toBe("Wrong user or password.");
    }
    await page.fill("input[name=user]", "ops");
    await page.fill("input[name=password]", PASSWORD);
    const [slowed] = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/login") && r.request().method() === "POST"), page.click("button[type=submit]")]);
    expect(slowed.status()).toBe(429);
    expect(Number(slowed.headers()["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(await page.locator(".flash").innerText()).toContain("Too many failed logins");
    await shot(page, "login");
    expect(web!.lines.some((l) => l.includes("failed login"))).toBe(true);
    expect(web!.lines.join("\n")).not.toContain(PASSWORD);
    expect(web!.lines.join("\n")).not.toContain("wrong-guess");
  });

  it("log: filter by result, search by Message-ID, purge; don't-send list: add and remove", async () => {
    sink.onRecipient = (address) => (address.startsWith("bad") ? { code: 450, message: "mailbox busy" } : undefined);
    await enqueue([
      { from: "app@example.com", to: "good@example.com", subject: "ok", text: "x", messageId: "<good-1@example.com>" },
      { from: "app@example.com", to: "bad@example.com", subject: "nope", text: "x", messageId: "<bad-1@example.com>" },
    ]);
    expect((await runMailer(["send-mail", "--config", tq.config])).stdout).toContain("1 sent, 1 deferred");
    await start();
    const page = await context.newPage();
    await login(page);
    await page.goto(web!.url + "/log");
    const rows = page.locator("table.log tbody tr");
    expect(await rows.count()).toBe(2);
    await page.selectOption("select[name=result]", "failure");
    await clickThrough(page, "form[role=search] button");
    expect(await rows.count()).toBe(1);
    expect(await rows.first().innerText()).toContain("mailbox busy");
    await page.goto(web!.url + "/log");
    await page.fill("input[name=q]", "<good-1@example.com>");
    await clickThrough(page, "form[role=search] button");
    expect(await rows.count()).toBe(1);
    expect(await rows.first().innerText()).toContain("good@example.com");
    await shot(page, "log");
    await page.goto(web!.url + "/log");
    await page.fill("input[name=days]", "0");
    await page.selectOption("select[name=purge_result]", "success");
    await clickThrough(page, "form[action='/log/purge'] button");
    expect(await page.locator(".flash").innerText()).toContain("1 log entries older than 0 day(s) deleted");
    const left = await (await tq.db()).kysely.selectFrom("mailer_messagelog").select("result").execute();
    expect(left.map((r) => r.result)).toEqual(["failure"]);

    await page.goto(web!.url + "/dont-send");
    await page.fill("input[name=address]", "not an address");
    await clickThrough(page, "form[action='/dont-send/add'] button");
    expect(await page.locator(".flash.error").count()).toBe(1);
    await page.fill("input[name=address]", "Gone <Gone@Example.com>");
    await clickThrough(page, "form[action='/dont-send/add'] button");
    expect(await page.locator("table.dont-send tbody tr").innerText()).toContain("Gone@Example.com");
    expect((await runMailer(["dont-send", "list", "--config", tq.config])).stdout).toContain("Gone@Example.com");
    await clickThrough(page, "form[action='/dont-send/remove'] button");
    expect(await page.locator(".flash").innerText()).toContain("Removed");
    expect((await runMailer(["dont-send", "list", "--config", tq.config])).stdout).toBe("");
  });
});
