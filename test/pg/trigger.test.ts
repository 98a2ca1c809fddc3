// The NOTIFY trigger runmailer-pg installs: idempotent, safe when several workers start at once,
// checked on this table (not by name across the database), and notifying the new id at commit.
import { afterEach, expect } from "bun:test";
import postgres from "postgres";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { memoryLogger } from "../../src/log.ts";
import { CHANNEL, installNotifyTrigger } from "../../src/pg/trigger.ts";
import { testFor } from "../helpers/dialects.ts";
import { createPgDatabase } from "../helpers/db.ts";

const it = testFor("postgres");
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** `sql`: a plain client on the same database, for SQL the test runs itself. */
async function freshDatabase(): Promise<{ db: Database; url: string; sql: postgres.Sql }> {
  const created = await createPgDatabase();
  cleanups.push(() => created.drop());
  const db = await openDatabase(created.url);
  cleanups.push(() => db.close());
  const sql = postgres(created.url, { max: 1, onnotice: () => {} });
  cleanups.push(() => sql.end());
  await migrateToLatest(db);
  return { db, url: created.url, sql };
}

it("installs once; later starts find it present", async () => {
  const { db } = await freshDatabase();
  expect(await installNotifyTrigger(db, memoryLogger())).toBe("installed");
  expect(await installNotifyTrigger(db, memoryLogger())).toBe("present");
});

it("four workers starting at once: exactly one installs, none fails", async () => {
  const { url } = await freshDatabase();
  const dbs = await Promise.all([1, 2, 3, 4].map(() => openDatabase(url)));
  cleanups.push(() => Promise.all(dbs.map((d) => d.close())));
  const results = await Promise.all(dbs.map((d) => installNotifyTrigger(d, memoryLogger())));
  expect(results.filter((r) => r === "installed")).toHaveLength(1);
  expect(results.filter((r) => r === "present")).toHaveLength(3);
});

it("a trigger of that name on another schema's mailer_message does not count", async () => {
  const { db, sql } = await freshDatabase();
  await sql.unsafe(`
    create schema other;
    create table other.mailer_message (id bigserial primary key);
    create function other.noop() returns trigger language plpgsql as $$ begin return NEW; end $$;
    create trigger mailer_message_notify_trigger after insert on other.mailer_message for each row execute function other.noop();
  `);
  expect(await installNotifyTrigger(db, memoryLogger())).toBe("installed");
});

it("notifies the new row's id when the insert commits, and nothing for a rollback", async () => {
  const { db, url, sql } = await freshDatabase();
  await installNotifyTrigger(db, memoryLogger());
  const heard: string[] = [];
  const listener = postgres(url, { max: 1, onnotice: () => {} });
  cleanups.push(() => listener.end());
  await listener.listen(CHANNEL, (payload) => heard.push(payload));
  const insert = (tx: postgres.TransactionSql) =>
    tx`insert into mailer_message (message_data, envelope_to) values (${Buffer.from("x")}, 'a@example.com') returning id`;
  await sql.begin((tx) => insert(tx).then(() => Promise.reject(new Error("roll back")))).catch(() => {});
  const [row] = await sql.begin((tx) => insert(tx));
  const deadline = Date.now() + 5_000;
  while (heard.length === 0 && Date.now() < deadline) await Bun.sleep(20);
  expect(heard).toEqual([String(row!.id)]);
});
