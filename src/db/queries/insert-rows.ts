// Multi-row INSERTs written out once per shape (dialect, table, columns, row count, RETURNING) and then
// run with new values (sql-text.ts says why). Written here rather than compiled by Kysely also so that
// a Connection without Kysely (connect.ts) queues messages too.
import type { Schema } from "../schema.ts";
import { dialectOf, isConnection, runOn, statementBytesOf, type DialectInfo, type StatementTarget } from "../dialect.ts";
import { TooLargeError } from "../../errors.ts";
import { sqlText } from "../sql-text.ts";

/** Per dialect: shape -> SQL. */
const texts = new WeakMap<DialectInfo, Map<string, string>>();
/** Shapes kept per dialect: a bulk enqueue uses two or three (full chunks and the last one). */
const KEEP = 32;

export function insertSql(d: DialectInfo, table: string, columns: readonly string[], count: number, returning: string | undefined): string {
  let cache = texts.get(d);
  if (!cache) texts.set(d, (cache = new Map()));
  const key = `${table}|${columns.join(",")}|${count}|${returning ?? ""}`;
  let text = cache.get(key);
  if (text !== undefined) return text;
  text = sqlText(d, ({ q, list }) => {
    const rows = Array.from({ length: count }, () => `(${list(columns.length)})`).join(", ");
    return `insert into ${q(table)} (${columns.map((c) => q(c)).join(", ")}) values ${rows}` + (returning ? ` returning ${q(returning)}` : "");
  });
  if (cache.size >= KEEP) cache.delete(cache.keys().next().value!);
  cache.set(key, text);
  return text;
}

/** INSERT of `rows` (each holding every one of `columns`) in one statement, or in as many as the
 * server's statement size needs; the RETURNING column's values in row order when asked for. All or
 * none either way: statements of one call made outside a transaction get one of their own (a caller
 * may leave out BEGIN and COMMIT for what it takes to be a single statement, enqueue.ts). */
export async function insertRows<T>(
  db: StatementTarget,
  table: keyof Schema,
  columns: readonly string[],
  rows: readonly object[],
  returning?: string,
): Promise<T[]> {
  if (rows.length === 0) return [];
  const limit = statementBytesOf(db);
  if (limit === null) return insertStatement(db, table, columns, rows, returning);
  const parts = byBytes(rows, columns, limit, table);
  if (parts.length === 1) return insertStatement(db, table, columns, parts[0]!, returning);
  const insertParts = async (trx: StatementTarget) => {
    const out: T[] = [];
    for (const part of parts) out.push(...(await insertStatement<T>(trx, table, columns, part, returning)));
    return out;
  };
  if (isConnection(db)) return (await db.database()).kysely.transaction().execute(insertParts);
  return db.isTransaction ? insertParts(db) : db.transaction().execute(insertParts);
}

/** A parameter's bytes on the wire, near enough to budget a statement. */
function parameterBytes(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength + 9;
  if (typeof value === "string") return Buffer.byteLength(value) + 9;
  return 9;
}

/** `rows` in consecutive pieces whose parameters stay within `limit` bytes. A row that is over the
 * limit by itself cannot be written at all: a clear error, not the server's. */
function byBytes(rows: readonly object[], columns: readonly string[], limit: number, table: string): object[][] {
  const out: object[][] = [];
  let part: object[] = [];
  let bytes = 0;
  for (const row of rows) {
    let size = 0;
    for (const column of columns) size += parameterBytes((row as Record<string, unknown>)[column]);
    if (size > limit) {
      throw new TooLargeError(
        `a row of ${size} bytes for ${table} does not fit in one statement: the database server takes at most ${limit} ` +
          "(MariaDB: raise max_allowed_packet on the server, or lower queue.max_size below it)",
      );
    }
    if (part.length > 0 && bytes + size > limit) {
      out.push(part);
      part = [];
      bytes = 0;
    }
    part.push(row);
    bytes += size;
  }
  if (part.length > 0) out.push(part);
  return out;
}

async function insertStatement<T>(db: StatementTarget, table: keyof Schema, columns: readonly string[], rows: readonly object[], returning?: string): Promise<T[]> {
  const text = insertSql(dialectOf(db), table, columns, rows.length, returning);
  const parameters: unknown[] = new Array(rows.length * columns.length);
  let k = 0;
  for (const row of rows) for (const column of columns) parameters[k++] = (row as Record<string, unknown>)[column];
  const statement = { sql: text, parameters };
  return (await runOn<T>(db, statement)).rows;
}
