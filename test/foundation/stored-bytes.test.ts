// Message texts are stored as bytes and come back as the very bytes stored, whatever they hold. On
// PostgreSQL most texts travel as bytea "escape" input rather than hex (connect.ts byteaParameter):
// every byte that form treats specially is covered here, and a claim reads them back in the escape form.
import { afterEach, expect, test } from "bun:test";
import { sql } from "kysely";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { byteaParameter, byteaResult } from "../../src/db/bytea.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { insertMessages } from "../../src/db/queries/messages.ts";
import { claimBatch } from "../../src/db/queries/claims.ts";
import { testDatabase } from "../helpers/db.ts";
import { forEachDialect, testFor } from "../helpers/dialects.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const bytes = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));

const TEXTS: Record<string, Uint8Array> = {
  "plain ASCII with CRLF": bytes("Subject: hi\r\n\r\nhello\r\n"),
  "empty": new Uint8Array(0),
  "a backslash": bytes("Subject: C:\\temp\r\n\r\n\\\\ and \\000\r\n"),
  "text that starts like hex input": bytes("\\x41424344"),
  "octal-looking text": bytes("\\101\\102"),
  "a NUL byte": bytes("a\0b"),
  "8-bit latin1": bytes("Subject: caf\xe9\r\n\r\n\xff\xfe"),
  "UTF-8": new Uint8Array(Buffer.from("Subject: \u00e9t\u00e9 \u2603\r\n\r\n\u{1f600}", "utf8")),
  "control characters and DEL": bytes("\x01\x02\x07\x1b\x7f\t\r\n"),
  "every byte value": Uint8Array.from({ length: 256 }, (_, i) => i),
};

/** Inserts every text in TEXTS and reads them back through the same connection settings. */
async function storeAndReadBack(db: Database): Promise<void> {
  const names = Object.keys(TEXTS);
  const ids = await insertMessages(
    db.kysely,
    names.map((name) => ({ message_data: TEXTS[name]!, message_id: name, subject: "", envelope_from: "", envelope_to: "a@example.com", priority: 2, next_attempt_at: null, expires_at: null })),
  );
  const rows = await db.kysely.selectFrom("mailer_message").select(["id", "message_data"]).where("id", "in", ids).execute();
  const stored = new Map(rows.map((r) => [Number(r.id), Buffer.from(r.message_data).toString("hex")]));
  const expected = new Map(ids.map((id, i) => [id, Buffer.from(TEXTS[names[i]!]!).toString("hex")]));
  expect(stored).toEqual(expected);
  // A claim reads the text in a form of its own on PostgreSQL (dialect-sql.ts bytesAsText).
  const { rows: claimed } = await claimBatch(db, "here:1:w", names.length, new Date(), new Date(Date.now() + 60_000));
  expect(new Map(claimed.map((r) => [Number(r.id), Buffer.from(r.message_data).toString("hex")]))).toEqual(expected);
}

forEachDialect((dialect, it) => {
  it("a message text comes back byte for byte, whatever bytes it holds", async () => {
    const target = await testDatabase(dialect);
    cleanups.push(target.cleanup);
    const db: Database = await openDatabase(target.url);
    cleanups.push(() => db.close());
    await migrateToLatest(db);
    await storeAndReadBack(db);
  });
});

testFor("postgres")("a database set to bytea_output = escape still gives back every byte", async () => {
  const target = await testDatabase("postgres");
  cleanups.push(target.cleanup);
  const name = new URL(target.url).pathname.slice(1);
  const setup = await openDatabase(target.url);
  await sql.raw(`ALTER DATABASE "${name}" SET bytea_output = 'escape'`).execute(setup.kysely);
  await setup.close();
  // The setting applies to sessions opened from now on.
  const db = await openDatabase(target.url);
  cleanups.push(() => db.close());
  const shown = await sql<{ bytea_output: string }>`SHOW bytea_output`.execute(db.kysely);
  expect(shown.rows[0]?.bytea_output).toBe("escape");
  await migrateToLatest(db);
  await storeAndReadBack(db);
});

test("both text forms of a bytea result decode to the same bytes", () => {
  const all = Buffer.from(Uint8Array.from({ length: 256 }, (_, i) => i));
  // The escape form PostgreSQL writes: printable ASCII as is, a backslash doubled, the rest in octal.
  const escaped = [...all].map((b) => (b === 92 ? "\\\\" : b >= 32 && b < 127 ? String.fromCharCode(b) : "\\" + b.toString(8).padStart(3, "0"))).join("");
  expect(byteaResult(escaped).equals(all)).toBe(true);
  expect(byteaResult("\\x" + all.toString("hex")).equals(all)).toBe(true);
  expect(byteaResult("").length).toBe(0);
  expect(byteaResult("\\x").length).toBe(0);
  // Without a backslash (mail as encode(…, 'escape') gives it), every character is its byte.
  expect(byteaResult("Subject: hi\r\n\r\n\tbody\r\n").equals(Buffer.from("Subject: hi\r\n\r\n\tbody\r\n"))).toBe(true);
});

test("plain ASCII goes to PostgreSQL as itself; anything escape input would misread goes as hex", () => {
  expect(byteaParameter(bytes("Subject: hi\r\n\r\nbody"))).toBe("Subject: hi\r\n\r\nbody");
  expect(byteaParameter(Buffer.from("plain"))).toBe("plain");
  expect(byteaParameter(bytes("a\\b"))).toBe("\\x615c62");
  expect(byteaParameter(bytes("a\0b"))).toBe("\\x610062");
  expect(byteaParameter(bytes("caf\xe9"))).toBe("\\x636166e9");
  // A view into a larger buffer is read from its own offset.
  const big = bytes("xxhelloxx");
  expect(byteaParameter(big.subarray(2, 7))).toBe("hello");
});
