// Multi-row INSERTs compiled once per shape (table, columns, row count, RETURNING) and then run with
// new values. Kysely's builder makes and freezes a node for every value on every call (5,500 for a
// batch of 500 log rows), although the SQL text depends only on the shape; the bulk enqueue and the
// recording of each sent batch are where that showed. The driver still finds its prepared statement
// by that text (bun:sqlite's query cache, postgres.js's named statements), as before.
import type { CompiledQuery, Kysely, Transaction } from "kysely";
import type { Schema } from "../schema.ts";

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

/** INSERT of `rows` (each holding every one of `columns`) in one statement; the RETURNING column's
 * values in row order when asked for. */
export async function insertRows<T>(
  db: Db,
  table: keyof Schema,
  columns: readonly string[],
  rows: readonly object[],
  returning?: string,
): Promise<T[]> {
  if (rows.length === 0) return [];
  const compiled = template(db, table, columns, rows.length, returning);
  const parameters: unknown[] = new Array(rows.length * columns.length);
  let k = 0;
  for (const row of rows) for (const column of columns) parameters[k++] = (row as Record<string, unknown>)[column];
  const result = await db.executeQuery<T>({ ...compiled, parameters } as CompiledQuery<T>);
  return result.rows;
}
