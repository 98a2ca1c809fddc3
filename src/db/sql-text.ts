// Statements written out as text for the paths that run most often: the intake's INSERT
// (insert-rows.ts) and a pass's claim and record (claims.ts). Kysely's builder makes and freezes a
// node for every value and compiles them all again on every call, though the text depends only on
// the statement's shape: about 40 kB of garbage for a claim that finds nothing, which a worker
// collects every few messages. The text is what each database's Kysely compiler writes, to the byte
// (test/foundation/sql-text.test.ts), so the drivers find the same prepared statements.
import type { DialectInfo } from "./dialect.ts";

/** Writes one statement left to right: `q` quotes an identifier, `p` is the next placeholder. */
export interface SqlWriter {
  dialect: DialectInfo;
  q(identifier: string): string;
  p(): string;
  /** `count` placeholders, comma-separated (an IN list, a VALUES row). */
  list(count: number): string;
}

export function sqlText(d: DialectInfo, write: (w: SqlWriter) => string): string {
  let n = 0;
  const p = () => d.parameter(++n);
  return write({ dialect: d, q: d.quote, p, list: (count) => Array.from({ length: count }, p).join(", ") });
}

/** A text that depends only on the dialect, written once per dialect. */
export function perDialect(write: (w: SqlWriter) => string): (d: DialectInfo) => string {
  const written = new Map<DialectInfo, string>();
  return (d) => {
    let text = written.get(d);
    if (text === undefined) written.set(d, (text = sqlText(d, write)));
    return text;
  };
}
