// Multi-row INSERTs compiled once per shape (table, columns, row count, RETURNING) and then run with
// new values. Kysely's builder makes and freezes a node for every value on every call (5,500 for a
// batch of 500 log rows), although the SQL text depends only on the shape; the bulk enqueue and the
// recording of each sent batch are where that showed. The driver still finds its prepared statement
// by that text (bun:sqlite's query cache, postgres.js's named statements), as before.
import type { CompiledQuery, Kysely, Transaction } from "kysely";
import type { Schema } from "../schema.ts";
import { statementBytesOf } from "../dialect.ts";
import { TooLargeError } from "../../errors.ts";

type Db = Kysely<Schema> | Transaction<Schema>;

/** Per database (keyed by its Kysely adapter, which its transactions share): shape -> compiled SQL. */
const templates = new WeakMap<object, Map<string, CompiledQuery>>();
/** Shapes kept per database: a bulk enqueue uses two or three (full chunks and the last one). */
const KEEP = 32;

const marker = (row: number, column: number) => `\u0000${row}:${column}`;

function template(db: Db, table: keyof Schema, columns: readonly string[], count: number, returning: string | undefined): CompiledQuery {
  const adapter = db.getExecutor().adapter;
  let cache = templates.get(adapter);
  if (!cache) templates.set(adapter, (cache = new Map()));
  const key = `${table}|${columns.join(",")}|${count}|${returning ?? ""}`;
  let compiled = cache.get(key);
  if (compiled) return compiled;
  // Compiled by Kysely itself, so the SQL is the dialect's own; each value is a distinct marker so
  // that the parameters are checked to come out row by row, in column order.
  const rows = Array.from({ length: count }, (_, r) => Object.fromEntries(columns.map((c, i) => [c, marker(r, i)])));
  const insert = db.insertInto(table).values(rows as never);
  compiled = (returning ? insert.returning(returning as never) : insert).compile();
  if (compiled.parameters.length !== count * columns.length || compiled.parameters.some((p, n) => p !== marker(Math.floor(n / columns.length), n % columns.length))) {
    throw new Error(`insert-rows: unexpected parameter order compiling an INSERT into ${table}`);
  }
  if (cache.size >= KEEP) cache.delete(cache.keys().next().value!);
  cache.set(key, compiled);
  return compiled;
}

/** INSERT of `rows` (each holding every one of `columns`) in one statement, or in as many as the
 * server's statement size needs; the RETURNING column's values in row order when asked for. All or
 * none either way: statements of one call made outside a transaction get one of their own (a caller
 * may leave out BEGIN and COMMIT for what it takes to be a single statement, enqueue.ts). */
export async function insertRows<T>(
  db: Db,
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
  const insertParts = async (trx: Db) => {
    const out: T[] = [];
    for (const part of parts) out.push(...(await insertStatement<T>(trx, table, columns, part, returning)));
    return out;
  };
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

async function insertStatement<T>(db: Db, table: keyof Schema, columns: readonly string[], rows: readonly object[], returning?: string): Promise<T[]> {
  const compiled = template(db, table, columns, rows.length, returning);
  const parameters: unknown[] = new Array(rows.length * columns.length);
  let k = 0;
  for (const row of rows) for (const column of columns) parameters[k++] = (row as Record<string, unknown>)[column];
  const result = await db.executeQuery<T>({ ...compiled, parameters } as CompiledQuery<T>);
  return result.rows;
}
