// Long lists written or matched in pieces, so a statement stays well under every database's limit on
// bound parameters (SQLite's 32766, PostgreSQL's 65535).

/** `items` in consecutive pieces of at most `size`. */
export function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
