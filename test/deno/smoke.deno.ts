// The Deno smoke suite (`npm run test:deno`): the same sources run under Deno, with SQLite through
// node:sqlite (src/runtime.ts), PostgreSQL through postgres.js and MariaDB through mysql2. Run: deno run -A test/deno/smoke.deno.ts
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { loadConfig } from "../../src/config/load.ts";
import { openDatabase } from "../../src/db/connect.ts";
import { migrateToLatest, schemaState } from "../../src/db/migrate.ts";
import { runtimeName, serveHttp } from "../../src/runtime.ts";
import { silentLogger } from "../../src/queue/open.ts";
import { Queue } from "../../src/queue/queue.ts";
import { createConsole } from "../../src/web/server.ts";
import { createMariadbDatabase, createPgDatabase, mariadbReachable, pgReachable } from "../helpers/db.ts";
import { assert, assertEqual, finish, mailer, Skip, step } from "./harness.deno.ts";
import { deliverySteps } from "./delivery.deno.ts";

const work = mkdtempSync(join(tmpdir(), "mailer-deno-"));

await step("runs under Deno", () => assertEqual(runtimeName, "deno", "runtimeName"));

await step("config: a file is loaded, a bad key is refused with exit 78", async () => {
  const dir = mkdtempSync(join(work, "config-"));
  writeFileSync(join(dir, "mailer.toml"), `[delivery]\nmax_batch = 7\n`);
  const { config } = loadConfig({ cwd: dir, env: {} });
  assertEqual(config.delivery.max_batch, 7, "delivery.max_batch");
  writeFileSync(join(dir, "mailer.toml"), `[delivery]\nthrotle = 1\n`);
  // send-mail reads [delivery] (status would only warn about it).
  const run = await mailer(["send-mail"], { cwd: dir });
  assertEqual(run.code, 78, "exit code");
  assert(run.stderr.includes("did you mean delivery.throttle"), `stderr: ${run.stderr}`);
});

// libmime and nodemailer's folding and quoted-printable functions are required on first use (so
// that `sendmail -t` and `mailer queue` start without them); Deno has no require in ES modules.
await step("lazily required modules load: an encoded word, a folded Subject, a quoted-printable body", async () => {
  const { composeMail } = await import("../../src/queue/compose.ts");
  const { fieldValue, makeField } = await import("../../src/queue/headers.ts");
  assertEqual(fieldValue({ name: "Subject", raw: "Subject: =?utf-8?Q?caf=C3=A9?=" }), "café", "decoded word");
  assertEqual(makeField("Subject", "café").raw, "Subject: =?UTF-8?Q?caf=C3=A9?=", "encoded word");
  const subject = "A subject long enough that nodemailer has to fold it over two header lines at a space";
  const composed = await composeMail({ from: "a@example.com", to: "b@example.org", subject, text: "x".repeat(100) });
  const text = new TextDecoder().decode(composed.raw);
  assert(text.includes("Subject: A subject long enough that nodemailer has to fold it over two\r\n header lines"), "folded Subject");
  assert(text.includes("Content-Transfer-Encoding: quoted-printable") && text.includes("=\r\n"), "quoted-printable body");
});

await step("node:sqlite adapter: RETURNING rows, bytes as Uint8Array, changes counts, booleans bind", async () => {
  const db = await openDatabase(`sqlite:${join(work, "adapter.db")}`);
  try {
    await migrateToLatest(db);
    assertEqual((await schemaState(db)).pending, [], "pending migrations");
    const bytes = new Uint8Array([0x53, 0x75, 0x62, 0x6a, 0xff, 0x00, 0x0a]);
    const inserted = await db.kysely
      .insertInto("mailer_message")
      .values({ message_data: bytes, envelope_to: "a@example.com" })
      .returning(["id", "status"])
      .executeTakeFirstOrThrow();
    assertEqual(inserted.status, "queued", "RETURNING row");
    const row = await db.kysely.selectFrom("mailer_message").select("message_data").where("id", "=", inserted.id).executeTakeFirstOrThrow();
    assert(row.message_data instanceof Uint8Array, "message_data is a Uint8Array");
    assertEqual([...row.message_data], [...bytes], "message_data bytes");
    const updated = await db.kysely.updateTable("mailer_message").set({ retry_count: 3 }).where("id", "=", inserted.id).executeTakeFirst();
    assertEqual(Number(updated.numUpdatedRows), 1, "numUpdatedRows");
    // bun:sqlite binds true as 1; the adapter must too, or the same query fails only under Deno.
    const bound = await sql<{ t: number }>`select ${true} as t`.execute(db.kysely);
    assertEqual(bound.rows[0]?.t, 1, "a bound boolean");
  } finally {
    await db.close();
  }
});

/** The database servers, how to tell one answers and how to make a database on it. */
const SERVERS = {
  postgres: { name: "PostgreSQL", reachable: pgReachable, create: createPgDatabase },
  mariadb: { name: "MariaDB", reachable: mariadbReachable, create: createMariadbDatabase },
};

for (const dialect of ["sqlite", "postgres", "mariadb"] as const) {
  const dir = mkdtempSync(join(work, `${dialect}-`));
  let url = `sqlite:${join(dir, "mailer.db")}`;
  let drop: (() => Promise<void>) | null = null;
  if (dialect !== "sqlite") {
    const server = SERVERS[dialect];
    if (await server.reachable()) {
      const created = await server.create();
      url = created.url;
      drop = created.drop;
    } else if (process.env.CI) {
      throw new Error(`${server.name} is not reachable and CI is set`);
    }
  }
  const ready = dialect === "sqlite" || drop !== null;
  const needsPg = () => {
    // Counted as skipped locally; under CI an unreachable server already failed above.
    if (!ready) throw new Skip(`${dialect} not reachable`);
  };
  writeFileSync(join(dir, "mailer.toml"), `[database]\nurl = ${JSON.stringify(url)}\n[lock]\npath = ${JSON.stringify(join(dir, "send_mail"))}\n`);

  await step(`${dialect}: migrate`, async () => {
    needsPg();
    const run = await mailer(["migrate"], { cwd: dir });
    assertEqual(run.code, 0, `exit code (stderr: ${run.stderr})`);
    assert(run.stdout.includes("0001-initial"), `stdout: ${run.stdout}`);
  });

  await step(`${dialect}: status --json on the empty queue`, async () => {
    needsPg();
    const run = await mailer(["status", "--json"], { cwd: dir });
    assertEqual(run.code, 0, `exit code (stderr: ${run.stderr})`);
    const status = JSON.parse(run.stdout);
    assertEqual([status.queued, status.deferred, status.oldest_queued_age_s], [0, 0, null], "queued, deferred, oldest");
    assertEqual(status.log, { success: 0, failure: 0, dont_send: 0, expired: 0 }, "log");
    assertEqual(status.schema_version, "0004-send-time-checks", "schema_version");
  });

  await step(`${dialect}: status, list and show see a row written with plain SQL`, async () => {
    needsPg();
    const db = await openDatabase(url);
    let id = 0;
    try {
      const data = new TextEncoder().encode("Subject: from deno\r\nMessage-ID: <deno-1@example.com>\r\n\r\nhi\r\n");
      const row = await db.kysely
        .insertInto("mailer_message")
        .values({ message_data: data, message_id: "<deno-1@example.com>", subject: "from deno", envelope_to: "ops@example.com", priority: 1 })
        .returning("id")
        .executeTakeFirstOrThrow();
      id = Number(row.id);
    } finally {
      await db.close();
    }
    const status = JSON.parse((await mailer(["status", "--json"], { cwd: dir })).stdout);
    assertEqual([status.queued, status.queued_by_priority.high], [1, 1], "queued, high");
    const list = JSON.parse((await mailer(["list", "--json"], { cwd: dir })).stdout);
    assertEqual(list.messages.map((m: { id: number }) => m.id), [id], "listed ids");
    const show = JSON.parse((await mailer(["show", "<deno-1@example.com>", "--json"], { cwd: dir })).stdout);
    assertEqual(show.messages[0]?.headers, "Subject: from deno\nMessage-ID: <deno-1@example.com>", "headers");
  });

  await step(`${dialect}: the console serves its pages under Deno (Deno.serve) and refuses a POST without its token`, async () => {
    needsPg();
    const { config } = loadConfig({ cwd: dir, env: {} });
    const db = await openDatabase(url);
    const queue = new Queue(config, silentLogger());
    const app = createConsole({ db, queue, config, logger: silentLogger(), clock: () => new Date(), sendNow: () => Promise.reject(new Error("not here")) });
    const server = await serveHttp({ host: "127.0.0.1", port: 0 }, (request, ip) => app.fetch(request, { ip }));
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const dashboard = await fetch(`${base}/`);
      assertEqual(dashboard.status, 200, "dashboard status");
      const cookie = (dashboard.headers.get("set-cookie") ?? "").split(";")[0]!;
      assert((await dashboard.text()).includes("queued (sendable now)"), "dashboard cards");
      const list = await (await fetch(`${base}/messages`, { headers: { Cookie: cookie } })).text();
      assert(list.includes("from deno"), "the row in the list");
      const post = await fetch(`${base}/dont-send/add`, { method: "POST", body: "address=a%40example.com", headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" } });
      assertEqual(post.status, 403, "POST without the CSRF token");
      await post.body?.cancel();
    } finally {
      await server.stop();
      await queue.close();
      await db.close();
    }
  });

  await deliverySteps(dialect, dir, url, needsPg);

  if (drop) await drop();
}

rmSync(work, { recursive: true, force: true });
process.exit(finish());
