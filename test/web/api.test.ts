// The HTTP API and /metrics against the running binary: tokens made with `mailer web token add`,
// messages queued over HTTP and delivered by send-mail to a real SMTP sink, every refusal as
// problem+json with nothing queued, and the metrics read with a Prometheus text-format parser.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { runMailer } from "../helpers/cli.ts";
import { createPgDatabase } from "../helpers/db.ts";
import { forEachDialect, pgAvailable, testFor , dialectAvailable } from "../helpers/dialects.ts";
import { parse, testQueue, type TestQueue } from "../helpers/intake.ts";
import { startService, type ServiceProcess } from "../helpers/service-process.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";
import { until } from "../helpers/wait.ts";
import { startConsole, type ConsoleProcess } from "../helpers/web-console.ts";

const metricValue = (text: string, name: string, labels: Record<string, string> = {}) => {
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const metric = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return metric === undefined ? undefined : Number(metric.value);
};

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let sink: Sink;
  let web: ConsoleProcess | null = null;
  let tokens: Record<"send" | "read" | "admin", string>;

  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    sink = await startSink();
    tq = await testQueue(dialect, "");
    await Bun.write(tq.config, `[database]\nurl = "${tq.url}"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n` +
      `[lock]\npath = "${join(tq.dir, "send_mail")}"\n[queue]\nmax_size = 20000\ndefault_domain = "example.org"\naliases = ""\n` +
      `[delivery]\nenqueue_batch_size = 5\n[web]\ntokens_file = "${join(tq.dir, "api-tokens")}"\n`);
    tokens = {} as typeof tokens;
    for (const scope of ["send", "read", "admin"] as const) {
      const added = await runMailer(["web", "token", "add", `app-${scope}`, "--scope", scope, "--config", tq.config]);
      expect(added.code).toBe(0);
      tokens[scope] = added.stdout.trim();
    }
    web = await startConsole(tq.config);
  });
  afterEach(async () => {
    if (web) expect(await web.stop()).toBe(0);
    web = null;
    await sink?.close();
    await tq?.cleanup();
  });

  const call = (method: string, path: string, options: { token?: string; json?: unknown; body?: string; type?: string } = {}) =>
    fetch(`${web!.url}/api/v1${path}`, {
      method,
      headers: {
        ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
        ...(options.json !== undefined || options.body !== undefined ? { "Content-Type": options.type ?? "application/json" } : {}),
      },
      body: options.json !== undefined ? JSON.stringify(options.json) : options.body,
    });

  it("queues JSON and raw messages that send-mail delivers like the same message queued by `mailer queue`", async () => {
    const json = await call("POST", "/messages", {
      token: tokens.send,
      json: {
        from: "App <app@example.com>", to: ["ann@example.com"], cc: "Ops <ops@example.org>", subject: "Invoice 7", text: "Hello Ann", html: "<p>Hello Ann</p>",
        attachments: [{ filename: "invoice.txt", content: Buffer.from("total: 7").toString("base64"), content_type: "text/plain" }],
        headers: { "X-Campaign": "spring" }, priority: "high",
      },
    });
    expect(json.status).toBe(201);
    const [queued] = ((await json.json()) as any).messages;
    expect(queued).toMatchObject({ envelope_from: "app@example.com", recipients: ["ann@example.com", "ops@example.org"], priority: "high" });
    expect(json.headers.get("location")).toBe(`/api/v1/messages/${queued.id}`);

    const raw = await call("POST", "/messages?to=bob%40example.com&priority=low", {
      token: tokens.send, type: "message/rfc822",
      body: "From: app@example.com\r\nTo: someone-else@example.com\r\nSubject: raw one\r\n\r\nraw body\r\n",
    });
    expect(raw.status).toBe(201);
    expect(((await raw.json()) as any).messages[0]).toMatchObject({ recipients: ["bob@example.com"], priority: "low" });

    const cli = await runMailer(["queue", "--config", tq.config, "--from", "App <app@example.com>", "--to", "ann@example.com", "--cc", "Ops <ops@example.org>",
      "--subject", "Invoice 7", "--text", "Hello Ann", "--html", "<p>Hello Ann</p>", "--header", "X-Campaign: spring", "--priority", "high",
      "--attach", await writeAttachment(tq.dir)]);
    expect(cli.code).toBe(0);

    expect((await runMailer(["send-mail", "--config", tq.config])).stdout).toContain("3 sent");
    const received = await sink.waitFor(3);
    const viaApi = received.find((m) => m.subject === "Invoice 7" && received.indexOf(m) === received.findIndex((x) => x.subject === "Invoice 7"))!;
    const viaCli = received.filter((m) => m.subject === "Invoice 7")[1]!;
    const [a, b] = [await parse(viaApi.raw), await parse(viaCli.raw)];
    for (const mail of [a, b]) {
      expect(mail.from?.text).toBe('"App" <app@example.com>');
      expect(mail.cc && "text" in mail.cc ? mail.cc.text : "").toBe('"Ops" <ops@example.org>');
      expect(mail.text?.trim()).toBe("Hello Ann");
      expect(mail.html).toContain("<p>Hello Ann</p>");
      expect(mail.headers.get("x-campaign")).toBe("spring");
      expect(mail.headers.has("x-mailer-priority")).toBe(false);
      expect(mail.attachments.map((x) => [x.filename, x.content.toString()])).toEqual([["invoice.txt", "total: 7"]]);
    }
    expect(viaApi.to.sort()).toEqual(viaCli.to.sort());
    const rawDelivered = received.find((m) => m.subject === "raw one")!;
    expect(rawDelivered.to).toEqual(["bob@example.com"]);
  });

  it("refuses bad JSON, oversize, bad addresses, unknown fields and bad tokens as problem+json, queuing nothing", async () => {
    const cases: Array<[string, Response, number, string]> = [
      ["no token", await call("POST", "/messages", { json: { to: "a@example.com" } }), 401, "missing-token"],
      ["wrong token", await call("POST", "/messages", { token: "mailer_nope", json: { to: "a@example.com" } }), 401, "bad-token"],
      ["read token sending", await call("POST", "/messages", { token: tokens.read, json: { to: "a@example.com" } }), 403, "insufficient-scope"],
      ["send token reading", await call("GET", "/status", { token: tokens.send }), 403, "insufficient-scope"],
      ["bad JSON", await call("POST", "/messages", { token: tokens.send, body: '{"to": ' }), 400, "invalid-json"],
      ["bad address", await call("POST", "/messages", { token: tokens.send, json: { to: "ann@@example.com", subject: "x", text: "x" } }), 422, "invalid-message"],
      ["address without a domain", await call("POST", "/messages", { token: tokens.send, json: { to: ["a@example.com", "root"], text: "x" } }), 422, "invalid-message"],
      ["CR/LF in a header", await call("POST", "/messages", { token: tokens.send, json: { to: "a@example.com", headers: { "X-A": "b\r\nBcc: evil@example.com" } } }), 422, "invalid-message"],
      ["unknown field", await call("POST", "/messages", { token: tokens.send, json: { to: "a@example.com", subjet: "typo" } }), 422, "invalid-message"],
      ["no recipient", await call("POST", "/messages", { token: tokens.send, json: { subject: "x" } }), 422, "invalid-message"],
      ["bad base64", await call("POST", "/messages", { token: tokens.send, json: { to: "a@example.com", attachments: [{ content: "not base64!" }] } }), 422, "invalid-message"],
      ["oversize", await call("POST", "/messages", { token: tokens.send, json: { to: "a@example.com", text: "x".repeat(30_000) } }), 413, "too-large"],
      ["batch over enqueue_batch_size", await call("POST", "/messages", { token: tokens.send, json: Array(6).fill({ to: "a@example.com", text: "x" }) }), 413, "batch-too-large"],
      ["one bad message in a batch", await call("POST", "/messages", { token: tokens.send, json: [{ to: "a@example.com", text: "x" }, { to: "bad@", text: "x" }] }), 422, "invalid-message"],
      ["form data", await call("POST", "/messages", { token: tokens.send, body: "to=a", type: "application/x-www-form-urlencoded" }), 415, "unsupported-media-type"],
    ];
    for (const [what, response, status, slug] of cases) {
      expect({ what, status: response.status, type: response.headers.get("content-type"), body: response.status === status ? "" : await response.clone().text() })
        .toEqual({ what, status, type: "application/problem+json", body: "" });
      const body = (await response.json()) as any;
      expect({ what, type: body.type, status: body.status }).toEqual({ what, type: `/api/v1/problems/${slug}`, status });
      expect(typeof body.detail).toBe("string");
    }
    expect(await tq.rows()).toEqual([]);
    // Every recipient on the don't-send list: refused, as sendmail and smtpd refuse it.
    expect((await call("POST", "/dont-send", { token: tokens.admin, json: { address: "gone@example.com" } })).status).toBe(201);
    const suppressed = await call("POST", "/messages", { token: tokens.send, json: { to: "Gone@Example.com", text: "x" } });
    expect(suppressed.status).toBe(422);
    expect(((await suppressed.json()) as any).type).toBe("/api/v1/problems/all-recipients-suppressed");
    expect(await tq.rows()).toEqual([]);
  });

  it("lists in keyset pages, shows, retries, deletes and manages the don't-send list; status is status --json's", async () => {
    const batch = await call("POST", "/messages", { token: tokens.send, json: [1, 2, 3, 4, 5].map((i) => ({ to: `u${i}@example.com`, subject: `m${i}`, text: "x" })) });
    expect(batch.status).toBe(201);
    const ids: number[] = ((await batch.json()) as any).messages.map((m: { id: number }) => m.id);
    expect(ids).toHaveLength(5);
    const first = (await (await call("GET", "/messages?limit=2", { token: tokens.read })).json()) as any;
    const second = (await (await call("GET", `/messages?limit=2&cursor=${first.next_cursor}`, { token: tokens.read })).json()) as any;
    expect([...first.messages, ...second.messages].map((m: { id: number }) => m.id)).toEqual(ids.slice(0, 4));
    expect((await call("GET", "/messages?cursor=garbage", { token: tokens.read })).status).toBe(400);

    const shown = (await (await call("GET", `/messages/${ids[0]}`, { token: tokens.read })).json()) as any;
    expect(shown.message).toMatchObject({ id: ids[0], subject: "m1", envelope_to: ["u1@example.com"] });
    expect((await call("GET", "/messages/999999", { token: tokens.read })).status).toBe(404);

    expect((await call("POST", `/messages/${ids[0]}/retry`, { token: tokens.admin })).status).toBe(409); // queued, not deferred
    await (await tq.db()).kysely.updateTable("mailer_message").set({ status: "failed" }).where("id", "=", ids[0]!).execute();
    expect((await call("POST", `/messages/${ids[0]}/retry`, { token: tokens.read })).status).toBe(403);
    expect(await (await call("POST", `/messages/${ids[0]}/retry`, { token: tokens.admin })).json()).toEqual({ id: ids[0], status: "queued" });
    expect((await call("DELETE", `/messages/${ids[1]}`, { token: tokens.admin })).status).toBe(204);
    expect((await call("DELETE", `/messages/${ids[1]}`, { token: tokens.admin })).status).toBe(404);
    expect((await tq.rows()).map((r) => r.id)).toEqual([ids[0]!, ids[2]!, ids[3]!, ids[4]!]);

    const status = (await (await call("GET", "/status", { token: tokens.read })).json()) as any;
    const cli = JSON.parse((await runMailer(["status", "--json", "--config", tq.config])).stdout);
    expect({ ...status, now: null, oldest_queued_age_s: null }).toEqual({ ...cli, now: null, oldest_queued_age_s: null });

    expect((await call("POST", "/dont-send", { token: tokens.admin, json: { address: "x@" } })).status).toBe(422);
    expect((await call("POST", "/dont-send", { token: tokens.admin, json: { address: "A@Example.com" } })).status).toBe(201);
    expect((await call("POST", "/dont-send", { token: tokens.admin, json: { address: "a@example.com" } })).status).toBe(200);
    expect(((await (await call("GET", "/dont-send", { token: tokens.read })).json()) as any).addresses.map((a: { address: string }) => a.address)).toEqual(["A@Example.com"]);
    expect((await call("DELETE", "/dont-send?address=a%40example.com", { token: tokens.admin })).status).toBe(204);
    expect((await call("DELETE", "/dont-send?address=a%40example.com", { token: tokens.admin })).status).toBe(404);
  });

  it("send_at, expires_at and idempotency keys: a retried request gets 200 and the first id, queuing nothing", async () => {
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const message = { from: "app@example.org", to: "a@example.com", subject: "receipt", text: "paid", send_at: sendAt, expires_at: "+2h", idempotency_key: "order-1" };
    const first = await call("POST", "/messages", { token: tokens.send, json: message });
    expect(first.status).toBe(201);
    const id = ((await first.json()) as any).messages[0].id;
    const again = await call("POST", "/messages", { token: tokens.send, json: message });
    expect(again.status).toBe(200);
    expect(((await again.json()) as any).messages[0]).toMatchObject({ id, duplicate: true });
    // The Idempotency-Key header, on a raw message.
    const raw = (key: string) =>
      fetch(`${web!.url}/api/v1/messages?to=b@example.com`, {
        method: "POST",
        headers: { Authorization: `Bearer ${tokens.send}`, "Content-Type": "message/rfc822", "Idempotency-Key": key },
        body: "From: app@example.org\r\nSubject: raw\r\n\r\nhi\r\n",
      });
    const r1 = await raw("raw-1");
    const r2 = await raw("raw-1");
    expect([r1.status, r2.status]).toEqual([201, 200]);
    expect(((await r2.json()) as any).messages[0].id).toBe(((await r1.json()) as any).messages[0].id);
    // A batch: new ones 201, each duplicate marked.
    const batch = await call("POST", "/messages", { token: tokens.send, json: [message, { ...message, idempotency_key: "order-2" }] });
    expect(batch.status).toBe(201);
    expect(((await batch.json()) as any).messages.map((m: { duplicate?: boolean }) => m.duplicate ?? false)).toEqual([true, false]);
    const db = await tq.db();
    const rows = await db.kysely.selectFrom("mailer_message").select(["id", "next_attempt_at", "expires_at"]).orderBy("id").execute();
    expect(rows).toHaveLength(3);
    expect(new Date(rows[0]!.next_attempt_at as string).toISOString()).toBe(sendAt);
    expect(rows[0]!.expires_at).not.toBeNull();
    // Refusals: 422 problem+json, nothing queued.
    for (const bad of [{ send_at: "tomorrow" }, { send_at: "2026-12-24T18:00" }, { expires_at: "2000-01-01T00:00:00Z" }, { idempotency_key: "" }, { send_at: 5 }]) {
      const refused = await call("POST", "/messages", { token: tokens.send, json: { ...message, idempotency_key: "other", ...bad } });
      expect(refused.status).toBe(422);
      expect(refused.headers.get("content-type")).toContain("application/problem+json");
    }
    const twoKeys = await fetch(`${web!.url}/api/v1/messages`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tokens.send}`, "Content-Type": "application/json", "Idempotency-Key": "x" },
      body: JSON.stringify([message, message]),
    });
    expect(twoKeys.status).toBe(400);
    expect(await db.kysely.selectFrom("mailer_message").select("id").execute()).toHaveLength(3);
  });

  it("serves /metrics that a Prometheus parser reads with status --json's counts, and the OpenAPI document", async () => {
    const queued = await call("POST", "/messages", { token: tokens.send, json: [{ to: "a@example.com", text: "x", priority: "high" }, { to: "b@example.com", text: "x" }, { to: "c@example.com", text: "x" }] });
    const ids = ((await queued.json()) as any).messages.map((m: { id: number }) => m.id);
    await (await tq.db()).kysely.updateTable("mailer_message").set({ status: "deferred" }).where("id", "=", ids[2]).execute();
    const text = await (await fetch(`${web!.url}/metrics`)).text();
    const status = JSON.parse((await runMailer(["status", "--json", "--config", tq.config])).stdout);
    expect(metricValue(text, "mailer_queue_messages", { state: "queued", priority: "high" })).toBe(status.queued_by_priority.high);
    expect(metricValue(text, "mailer_queue_messages", { state: "queued", priority: "medium" })).toBe(status.queued_by_priority.medium);
    expect(metricValue(text, "mailer_queue_messages", { state: "deferred", priority: "medium" })).toBe(status.deferred);
    expect(metricValue(text, "mailer_queue_messages", { state: "failed", priority: "low" })).toBe(0);
    expect(metricValue(text, "mailer_log_entries", { result: "success" })).toBe(status.log.success);
    expect(metricValue(text, "mailer_queue_oldest_age_seconds", { state: "queued" })).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
    expect((await fetch(`${web!.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${web!.url}/readyz`)).json()).toEqual({ status: "ok", schema_version: "0004-send-time-checks" });
    const openapi = (await (await fetch(`${web!.url}/api/v1/openapi.json`)).json()) as any;
    expect(openapi.openapi).toBe("3.0.3");
    expect(Object.keys(openapi.paths)).toEqual(["/messages", "/messages/{id}", "/messages/{id}/retry", "/status", "/dont-send"]);
  });
});

describe("web token", () => {
  let tq: TestQueue;
  afterEach(async () => tq?.cleanup());

  test("add prints the token once and keeps only its hash (mode 0600); list and revoke; mistakes are usage errors", async () => {
    tq = await testQueue("sqlite", "");
    const file = join(tq.dir, "api-tokens");
    await Bun.write(tq.config, readFileSync(tq.config, "utf8") + `[web]\ntokens_file = "${file}"\n`);
    const added = await runMailer(["web", "token", "add", "billing", "--scope", "send", "--config", tq.config]);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^mailer_[A-Za-z0-9_-]{43}\n$/);
    expect(readFileSync(file, "utf8")).not.toContain(added.stdout.trim());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await runMailer(["web", "token", "list", "--config", tq.config])).stdout).toMatch(/^billing\tsend\t\d{4}-/);
    expect((await runMailer(["web", "token", "add", "billing", "--scope", "send", "--config", tq.config])).code).toBe(64);
    expect((await runMailer(["web", "token", "add", "other", "--scope", "root", "--config", tq.config])).code).toBe(64);
    expect((await runMailer(["web", "token", "add", "other", "--config", tq.config])).code).toBe(64);
    expect((await runMailer(["web", "token", "revoke", "billing", "--config", tq.config])).stdout).toBe("revoked: billing\n");
    expect((await runMailer(["web", "token", "revoke", "billing", "--config", tq.config])).code).toBe(1);
    const noTokensFile = await testQueue("sqlite", "");
    try {
      const unset = await runMailer(["web", "token", "list", "--config", noTokensFile.config]);
      expect(unset.code).toBe(78);
      expect(unset.stderr).toContain("web.tokens_file is not set");
    } finally {
      await noTokensFile.cleanup();
    }
  });
});

describe("metrics of the workers", () => {
  let tq: TestQueue;
  let sink: Sink;
  let worker: ServiceProcess | null = null;
  afterEach(async () => {
    if (worker) expect(await worker.stop()).toBe(0);
    worker = null;
    await sink?.close();
    await tq?.cleanup();
  });

  test("runmailer with [metrics] listen serves /metrics whose counters move as it delivers, and /healthz", async () => {
    sink = await startSink();
    sink.onRecipient = (address) => (address.startsWith("busy") ? { code: 451, message: "later" } : undefined);
    tq = await testQueue("sqlite", "");
    await Bun.write(tq.config, `[database]\nurl = "${tq.url}"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n[lock]\npath = "${join(tq.dir, "send_mail")}"\n` +
      `[delivery]\nempty_queue_sleep = 0.2\n[metrics]\nlisten = "127.0.0.1:0"\n`);
    worker = await startService(["runmailer", "--config", tq.config, "--log-format", "json"], /metrics listening/);
    const scrape = async () => fetch(`http://127.0.0.1:${worker!.port}/metrics`).then((r) => r.text());
    expect(metricValue(await scrape(), "mailer_messages_total", { result: "sent" })).toBe(0);
    const queued = await runMailer(["queue", "--config", tq.config, "--to", "a@example.com", "--subject", "m", "--text", "x"]);
    expect(queued.code).toBe(0);
    await runMailer(["queue", "--config", tq.config, "--to", "busy@example.com", "--subject", "m", "--text", "x"]);
    await sink.waitFor(1);
    let text = "";
    for (let i = 0; i < 50; i++) {
      text = await scrape();
      if (metricValue(text, "mailer_messages_total", { result: "deferred" }) === 1) break;
      await Bun.sleep(100);
    }
    expect(metricValue(text, "mailer_messages_total", { result: "sent" })).toBe(1);
    expect(metricValue(text, "mailer_messages_total", { result: "deferred" })).toBe(1);
    expect(metricValue(text, "mailer_passes_total")).toBeGreaterThanOrEqual(1);
    // Histogram series read line by line (the parser above drops a histogram's labels and count).
    const series = (name: string, label = "") =>
      text.split("\n").filter((l) => l.startsWith(`${name}{`) && l.includes(label)).map((l) => Number(l.split(" ").at(-1)));
    expect(parsePrometheusTextFormat(text).find((f) => f.name === "mailer_smtp_send_duration_seconds")!.type).toBe("HISTOGRAM");
    expect(series("mailer_smtp_send_duration_seconds_count", 'result="sent"')).toEqual([1]);
    expect(series("mailer_claim_duration_seconds_count")[0]).toBeGreaterThanOrEqual(1);
    expect(series("mailer_record_duration_seconds_count")[0]).toBeGreaterThanOrEqual(1);
    expect((await fetch(`http://127.0.0.1:${worker.port}/healthz`)).status).toBe(200);
  });

  testFor("postgres")("runmailer-pg's /metrics says its LISTEN connection is up, and counts what it sends", async () => {
    if (!pgAvailable) return;
    sink = await startSink();
    tq = await testQueue("postgres", "");
    await Bun.write(tq.config, `[database]\nurl = "${tq.url}"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n[lock]\npath = "${join(tq.dir, "send_mail")}"\n` +
      `[metrics]\nlisten = "127.0.0.1:0"\n`);
    worker = await startService(["runmailer-pg", "--config", tq.config, "--log-format", "json"], /metrics listening/);
    await worker.waitForLog(/listening for new mail/);
    const scrape = async () => fetch(`http://127.0.0.1:${worker!.port}/metrics`).then((r) => r.text());
    expect(metricValue(await scrape(), "mailer_listen_connection_up", { command: "runmailer-pg" })).toBe(1);
    expect((await runMailer(["queue", "--config", tq.config, "--to", "a@example.com", "--subject", "m", "--text", "x"])).code).toBe(0);
    await sink.waitFor(1);
    await until(async () => metricValue(await scrape(), "mailer_messages_total", { result: "sent" }) === 1, "the sent counter to move");
  });

  testFor("postgres")("the API answers 503 with Retry-After, and /readyz 503, while PostgreSQL is unreachable; /healthz stays 200", async () => {
    if (!pgAvailable) return;
    const pg = await createPgDatabase();
    const url = new URL(pg.url);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    let web: ConsoleProcess | null = null;
    try {
      url.port = String(proxy.port);
      tq = await testQueue("sqlite", "");
      await Bun.write(tq.config, `[database]\nurl = "${url}"\n[web]\ntokens_file = "${join(tq.dir, "t")}"\n`);
      expect((await runMailer(["migrate", "--config", tq.config])).code).toBe(0);
      const token = (await runMailer(["web", "token", "add", "a", "--scope", "admin", "--config", tq.config])).stdout.trim();
      web = await startConsole(tq.config);
      proxy.down();
      const down = await fetch(`${web.url}/api/v1/messages`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ to: "a@example.com", text: "x" }) });
      expect(down.status).toBe(503);
      expect(down.headers.get("retry-after")).toBe("5");
      expect(((await down.json()) as any).type).toBe("/api/v1/problems/database-unavailable");
      expect((await fetch(`${web.url}/api/v1/status`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(503);
      expect((await fetch(`${web.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${web.url}/healthz`)).status).toBe(200);
      proxy.up();
      await until(async () => (await fetch(`${web!.url}/readyz`)).status === 200, "/readyz answers 200 again");
    } finally {
      if (web) expect(await web.stop()).toBe(0);
      await proxy.close();
      await pg.drop();
    }
  });
});

async function writeAttachment(dir: string): Promise<string> {
  const path = join(dir, "invoice.txt");
  await Bun.write(path, "total: 7");
  return path;
}
