import { afterEach, describe, expect, test as test_ } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import mysql from "mysql2/promise";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest, schemaState, MIGRATION_TABLE } from "../../src/db/migrate.ts";
import { migrations } from "../../src/db/migrations/index.ts";
import { runMailer } from "../helpers/cli.ts";
import { MARIADB_URL, testDatabase, tempDir, type Dialect } from "../helpers/db.ts";
import { forEachDialect, testFor } from "../helpers/dialects.ts";
import { dumpSchema } from "../helpers/schema-dump.ts";

const SNAPSHOTS = join(import.meta.dir, "snapshots");
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fresh(dialect: Dialect): Promise<{ url: string; db: Database }> {
  const target = await testDatabase(dialect);
  cleanups.push(target.cleanup);
  const db = await openDatabase(target.url);
  cleanups.push(() => db.close());
  return { url: target.url, db };
}

forEachDialect((dialect, it) => {
  it("migrates an empty database to the latest schema", async () => {
    const { db } = await fresh(dialect);
    const { applied } = await migrateToLatest(db);
    expect(applied).toEqual(Object.keys(await migrations(db.dialect)));
    const state = await schemaState(db);
    expect(state.pending).toEqual([]);
  });

  it("is idempotent: a second migrate applies nothing and changes nothing", async () => {
    const { db } = await fresh(dialect);
    await migrateToLatest(db);
    const before = await dumpSchema(db);
    const { applied } = await migrateToLatest(db);
    expect(applied).toEqual([]);
    expect(await dumpSchema(db)).toBe(before);
  });

  it("gives the schema recorded in the committed snapshot", async () => {
    const { db } = await fresh(dialect);
    await migrateToLatest(db);
    const dump = await dumpSchema(db);
    const file = join(SNAPSHOTS, `schema.${dialect}.txt`);
    if (process.env.UPDATE_SNAPSHOTS || !existsSync(file)) {
      if (process.env.CI) throw new Error(`${file} is missing: run the tests with UPDATE_SNAPSHOTS=1 and commit it`);
      mkdirSync(SNAPSHOTS, { recursive: true });
      writeFileSync(file, dump);
    }
    expect(dump).toBe(readFileSync(file, "utf8"));
  });

  it("0003 upgrades a database with log rows: every row and id kept, 'expired' accepted, anything else still refused; down undoes it", async () => {
    const { db } = await fresh(dialect);
    const all = await migrations(db.dialect);
    const upTo = (name: string) => Object.fromEntries(Object.entries(all).filter(([n]) => n <= name));
    await migrateToLatest(db, upTo("0002-spool-import"));
    const row = (result: string) => ({
      queue_id: 7, message_data: new Uint8Array([1, 2, 3]), message_id: "<m@x>", subject: "s",
      envelope_from: "a@x", envelope_to: "b@x", when_added: db.dialect.toDb(new Date()), priority: 2, retry_count: 1, result, log_message: "m",
    });
    await db.kysely.insertInto("mailer_messagelog").values([row("success"), row("failure"), row("dont_send"), row("success")] as never).execute();
    // The newest row purged: its id must not come back.
    const top = await db.kysely.selectFrom("mailer_messagelog").select((eb) => eb.fn.max("id").as("id")).executeTakeFirstOrThrow();
    await db.kysely.deleteFrom("mailer_messagelog").where("id", "=", top.id as number).execute();
    const before = await db.kysely.selectFrom("mailer_messagelog").selectAll().orderBy("id").execute();
    await migrateToLatest(db);
    const after = await db.kysely.selectFrom("mailer_messagelog").selectAll().orderBy("id").execute();
    expect(after).toEqual(before);
    await db.kysely.insertInto("mailer_messagelog").values(row("expired") as never).execute();
    // Ids go on after the highest ever used (SQLite's AUTOINCREMENT counter came through the rebuild).
    const newest = await db.kysely.selectFrom("mailer_messagelog").select("id").where("result", "=", "expired").executeTakeFirstOrThrow();
    expect(Number(newest.id)).toBeGreaterThan(Number(top.id));
    await expect(db.kysely.insertInto("mailer_messagelog").values(row("bounced") as never).execute()).rejects.toThrow();
    // The indexes are back.
    expect(await dumpSchema(db)).toContain("mailer_messagelog_purge_idx");
    await all["0003-schedule-limits"]!.down!(db.kysely);
    await expect(db.kysely.insertInto("mailer_messagelog").values(row("expired") as never).execute()).rejects.toThrow();
    expect(await db.kysely.selectFrom("mailer_messagelog").select("id").execute()).toHaveLength(3);
  });

  it("0004 counts don't-send changes from its first day, and its down leaves a list that still takes entries", async () => {
    const { db } = await fresh(dialect);
    const all = await migrations(db.dialect);
    await migrateToLatest(db, Object.fromEntries(Object.entries(all).filter(([n]) => n <= "0003-schedule-limits")));
    await db.kysely.insertInto("mailer_dontsendentry").values({ to_address: "old@example.com" }).execute();
    await migrateToLatest(db);
    const counter = () => db.kysely.selectFrom("mailer_counter").select("value").where("name", "=", "dont_send").executeTakeFirstOrThrow();
    expect(Number((await counter()).value)).toBe(0);
    await db.kysely.insertInto("mailer_dontsendentry").values({ to_address: "new@example.com" }).execute();
    expect(Number((await counter()).value)).toBe(1);
    await all["0004-send-time-checks"]!.down!(db.kysely);
    await db.kysely.insertInto("mailer_dontsendentry").values({ to_address: "after@example.com" }).execute();
    expect(await db.kysely.selectFrom("mailer_dontsendentry").select("to_address").execute()).toHaveLength(3);
    expect(await dumpSchema(db)).not.toContain("mailer_dontsend_changed");
  });

  it("a failed migration leaves the database as it was", async () => {
    const { db } = await fresh(dialect);
    await migrateToLatest(db);
    const before = await dumpSchema(db);
    const broken = {
      ...(await migrations(db.dialect)),
      "9999-broken": {
        async up(k: any) {
          await k.schema.createTable("mailer_half_done").addColumn("x", "integer").execute();
          await sql`select * from table_that_does_not_exist`.execute(k);
        },
      },
    };
    if (dialect === "mariadb") {
      // MariaDB commits DDL as it runs: the error says so, and the migration is not recorded as done.
      await expect(migrateToLatest(db, broken)).rejects.toThrow(/migration 9999-broken failed; its schema changes before the failure stay/);
      expect(await dumpSchema(db)).toContain("table mailer_half_done");
    } else {
      await expect(migrateToLatest(db, broken)).rejects.toThrow(/migration 9999-broken failed; the database is unchanged/);
      expect(await dumpSchema(db)).toBe(before);
    }
    const rows = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(db.kysely);
    expect(rows.rows.map((r) => r.name)).toEqual(Object.keys(await migrations(db.dialect)));
  });

  it("`mailer migrate` run by 10 processes at once applies each migration exactly once", async () => {
    const { url, db } = await fresh(dialect);
    const runs = await Promise.all(
      Array.from({ length: 10 }, () => runMailer(["migrate"], { env: { MAILER_DATABASE_URL: url } })),
    );
    for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
    const applied = runs.filter((r) => /applied \d+ migration/.test(r.stdout)).length;
    expect(applied).toBe(1);
    const rows = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(db.kysely);
    expect(rows.rows.map((r) => r.name)).toEqual(Object.keys(await migrations(db.dialect)));
  }, 60_000);
});

describe("before `mailer migrate`", () => {
  forEachDialect((dialect, it) => {
    if (dialect === "sqlite") {
      it("the embedded SQLite default migrates itself on first use", async () => {
        const cwd = tempDir();
        cleanups.push(cwd.cleanup);
        const run = await runMailer(["status", "--json"], { cwd: cwd.path });
        expect(run.code).toBe(0);
        expect(JSON.parse(run.stdout)).toMatchObject({ queued: 0, deferred: 0 });
        expect(existsSync(join(cwd.path, "mailer.db"))).toBe(true);
      });
    } else {
      it(`a ${dialect === "postgres" ? "PostgreSQL" : "MariaDB"} database that was never migrated is refused with exit 78 and the fix`, async () => {
        const { url } = await fresh(dialect);
        const run = await runMailer(["status"], { env: { MAILER_DATABASE_URL: url } });
        expect(run.code).toBe(78);
        expect(run.stderr).toContain("is not migrated");
        expect(run.stderr).toContain("run `mailer migrate`");
      });
    }
  });
});

describe("an unreachable database", () => {
  test_("PostgreSQL that does not answer is a temporary failure, exit 75", async () => {
    const run = await runMailer(["status"], { env: { MAILER_DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" } });
    expect(run.code).toBe(75);
    expect(run.stderr).toContain("unavailable");
  });
  test_("MariaDB that does not answer is a temporary failure, exit 75", async () => {
    const run = await runMailer(["status"], { env: { MAILER_DATABASE_URL: "mysql://nobody@127.0.0.1:1/none" } });
    expect(run.code).toBe(75);
    expect(run.stderr).toContain("unavailable");
  });
});

describe("MariaDB's defaults", () => {
  testFor("mariadb")("a plain INSERT from a session in another time zone gets when_added in UTC, as mailer reads it", async () => {
    const { url, db } = await fresh("mariadb");
    await migrateToLatest(db);
    const app = await mysql.createConnection({ uri: url });
    try {
      await app.query("set time_zone = '+05:00'");
      await app.query("insert into mailer_message (message_data, envelope_to) values ('Subject: x\r\n\r\ny\r\n', 'a@example.com')");
    } finally {
      await app.end();
    }
    const row = await db.kysely.selectFrom("mailer_message").select("when_added").executeTakeFirstOrThrow();
    expect(Math.abs(new Date(row.when_added).getTime() - Date.now())).toBeLessThan(60_000);
  });
});

describe("a MariaDB server that refuses", () => {
  const it = testFor("mariadb");
  const server = new URL(MARIADB_URL);
  it("a database that does not exist, or a wrong password: exit 78 naming the problem, password masked", async () => {
    const missing = new URL(MARIADB_URL);
    missing.pathname = "/mailer_no_such_database";
    let run = await runMailer(["status"], { env: { MAILER_DATABASE_URL: missing.toString() } });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("Unknown database 'mailer_no_such_database'");
    const wrong = `mysql://mailer_nobody:secret-pw@${server.host}/mysql`;
    run = await runMailer(["status"], { env: { MAILER_DATABASE_URL: wrong } });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("Access denied for user 'mailer_nobody'");
    expect(run.stderr).not.toContain("secret-pw");
  });
});


