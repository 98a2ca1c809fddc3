// Helpers for the enqueue-path tests: a configured, migrated queue per test, the rows it holds, and
// delivery of a stored row to a real SMTP sink (what send-mail does with it), parsed for comparison.
import nodemailer from "nodemailer";
import { simpleParser, type ParsedMail } from "mailparser";
import { openDatabase, type Database } from "../../src/db/connect.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { splitRecipients } from "../../src/db/queries/messages.ts";
import { tempDir, testDatabase, type Dialect } from "./db.ts";
import { writeConfig } from "./cli.ts";
import type { Sink } from "./smtp-sink.ts";

export interface TestQueue {
  dir: string;
  url: string;
  config: string;
  /** Open (once) a handle on the test database, migrated. */
  db(): Promise<Database>;
  rows(): Promise<StoredRow[]>;
  cleanup(): Promise<void>;
}

export interface StoredRow {
  id: number;
  raw: Buffer;
  envelopeFrom: string;
  envelopeTo: string[];
  priority: number;
  subject: string;
  messageId: string;
}

/** A database (SQLite file or fresh PostgreSQL database), migrated, and a mailer.toml naming it. */
export async function testQueue(dialect: Dialect, extraToml = ""): Promise<TestQueue> {
  const dir = tempDir("mailer-intake-");
  const database = await testDatabase(dialect);
  const config = writeConfig(dir.path, `[database]\nurl = "${database.url}"\n${extraToml}`);
  let handle: Promise<Database> | null = null;
  const db = () =>
    (handle ??= (async () => {
      const opened = await openDatabase(database.url);
      await migrateToLatest(opened);
      return opened;
    })());
  await db();
  return {
    dir: dir.path,
    url: database.url,
    config,
    db,
    async rows() {
      const rows = await (await db()).kysely.selectFrom("mailer_message").selectAll().orderBy("id").execute();
      return rows.map((r) => ({
        id: Number(r.id),
        raw: Buffer.from(r.message_data),
        envelopeFrom: r.envelope_from,
        envelopeTo: splitRecipients(r.envelope_to),
        priority: r.priority,
        subject: r.subject,
        messageId: r.message_id,
      }));
    },
    async cleanup() {
      if (handle) await (await handle).close();
      await database.cleanup();
      dir.cleanup();
    },
  };
}

/** Send a stored row to the sink exactly as stored (raw text + envelope), as send-mail would. */
export async function deliver(row: StoredRow, sink: Sink): Promise<void> {
  const transport = nodemailer.createTransport({ host: sink.host, port: sink.port, secure: false, ignoreTLS: true });
  try {
    await transport.sendMail({ envelope: { from: row.envelopeFrom, to: row.envelopeTo }, raw: row.raw });
  } finally {
    transport.close();
  }
}

export const parse = (raw: Buffer | Uint8Array): Promise<ParsedMail> => simpleParser(Buffer.from(raw));

/** The addresses of a parsed address header, lower-cased. */
export function addresses(value: ParsedMail["to"]): string[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.flatMap((a) => a.value.map((v) => (v.address ?? "").toLowerCase()));
}
