// What the bench found: metric rows with a value per database, a target and a verdict; printed as a
// table and written as JSON.
import { DIALECTS, DIALECT_NAMES, type Dialect } from "./db.ts";

export interface Target {
  op: ">=" | "<=";
  value: number;
}

export interface Row {
  id: string;
  label: string;
  unit: string;
  values: Partial<Record<Dialect, number>>;
  /** One target for every database, or one each (a database without one has no verdict). */
  target?: Target | Partial<Record<Dialect, Target>>;
  note?: string;
  /** Shown once, in the first column, and "(same)" in the others (a figure with no database, like
   * the ceiling). */
  shared?: boolean;
}

const isTarget = (t: Row["target"]): t is Target => t !== undefined && "op" in t;

function targetFor(row: Row, dialect: Dialect): Target | undefined {
  if (row.target === undefined) return undefined;
  return isTarget(row.target) ? row.target : row.target[dialect];
}

export function verdict(row: Row, dialect: Dialect): "pass" | "FAIL" | "" {
  const value = row.values[dialect];
  const target = targetFor(row, dialect);
  if (value === undefined || target === undefined || !Number.isFinite(value)) return "";
  return (target.op === ">=" ? value >= target.value : value <= target.value) ? "pass" : "FAIL";
}

function fmt(value: number | undefined, unit: string): string {
  if (value === undefined) return "–";
  if (!Number.isFinite(value)) return String(value);
  if (unit === "ratio") return value.toFixed(2);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Short names where the target and verdict columns name a database. */
const TARGET_NAMES: Record<Dialect, string> = { sqlite: "SQLite", postgres: "PG", mariadb: "MariaDB" };
const VERDICT_LETTERS: Record<Dialect, string> = { sqlite: "S", postgres: "P", mariadb: "M" };

function targetText(row: Row): string {
  if (row.target === undefined) return "";
  const one = (t: Target) => `${t.op === ">=" ? "≥" : "≤"} ${fmt(t.value, row.unit)}`;
  if (isTarget(row.target)) return one(row.target);
  const each = row.target;
  const given = DIALECTS.filter((d) => each[d] !== undefined);
  const texts = given.map((d) => one(each[d]!));
  // Named per database unless every database has the same one.
  if (given.length === DIALECTS.length && texts.every((t) => t === texts[0])) return texts[0]!;
  return given.map((d, i) => `${TARGET_NAMES[d]} ${texts[i]}`).join(", ");
}

export function table(rows: Row[], dialects: Dialect[]): string {
  const header = ["metric", "unit", ...DIALECTS.map((d) => DIALECT_NAMES[d]), "target", "verdict"];
  const lines = rows.map((row) => {
    const cell = (d: Dialect) => {
      if (!dialects.includes(d) && !row.shared) return "skipped";
      if (row.shared && d !== DIALECTS[0]) return row.values[d] === undefined ? "(same)" : fmt(row.values[d], row.unit);
      return fmt(row.values[d], row.unit);
    };
    const verdicts = dialects.map((d) => verdict(row, d)).filter(Boolean);
    const v = verdicts.length === 0 ? "" : verdicts.every((x) => x === verdicts[0]) ? verdicts[0]! : dialects.map((d) => `${VERDICT_LETTERS[d]}:${verdict(row, d) || "–"}`).join(" ");
    return [row.label + (row.note ? ` (${row.note})` : ""), row.unit, ...DIALECTS.map(cell), targetText(row), v];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  // The databases' columns, right-aligned.
  const numeric = new Set(DIALECTS.map((_, i) => 2 + i));
  const render = (cells: string[]) =>
    "| " + cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ") + " |";
  return [render(header), "|" + widths.map((w, i) => (numeric.has(i) ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|") + "|", ...lines.map(render)].join("\n");
}
