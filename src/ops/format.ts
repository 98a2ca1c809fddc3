// Plain-text helpers for the operator commands: aligned tables, human ages, truncation to the
// terminal, and the last guard that keeps secrets out of anything printed.
import type { Config } from "../config/types.ts";

export interface Column {
  header: string;
  /** Right-align (numbers). */
  right?: boolean;
  /** May be shortened (with "…") to fit the width. */
  shrink?: boolean;
  /** The narrowest a shrinkable column gets (default: its header, at least 8). */
  min?: number;
}

/** Columns separated by two spaces; shrinkable columns are cut until the table fits `width`. */
export function table(columns: Column[], rows: string[][], width = Infinity): string {
  // A cell is never shown wider than a screen, so a megabyte of error text costs nothing to lay out.
  const cells = rows.map((row) => columns.map((_, i) => oneLine((row[i] ?? "").slice(0, 1000))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  let over = widths.reduce((a, b) => a + b, 0) + 2 * (columns.length - 1) - width;
  // Take one character at a time from the widest shrinkable column, so the columns end up
  // balanced rather than one being cut to nothing while another keeps its full length.
  const floors = columns.map((c) => (c.shrink ? (c.min ?? Math.max(c.header.length, 8)) : Infinity));
  while (over > 0) {
    let widest = -1;
    for (let i = 0; i < columns.length; i++) {
      if (widths[i]! > floors[i]! && (widest === -1 || widths[i]! > widths[widest]!)) widest = i;
    }
    if (widest === -1) break; // everything at its minimum: the terminal wraps the rest
    widths[widest]! -= 1;
    over -= 1;
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const w = widths[i]!;
        const text = truncate(v, w);
        return columns[i]!.right ? text.padStart(w) : text.padEnd(w);
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n");
}

export function truncate(text: string, width: number): string {
  return text.length <= width ? text : width <= 1 ? text.slice(0, width) : text.slice(0, width - 1) + "…";
}

/** Control characters (a CR/LF in a subject or an error) would break the table's lines. */
const oneLine = (text: string) => text.replace(/[\r\n\t]+/g, " ").replace(/[\x00-\x1f\x7f]/g, "?");

/** "45s", "12m 5s", "3h 20m", "2d 4h". */
export function humanAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** An ISO time with how far it is from now: "2026-01-01T00:00:00.000Z (in 5m 0s)". */
export function timeWithDistance(time: Date | null, now: Date): string {
  if (time === null) return "-";
  const delta = (time.getTime() - now.getTime()) / 1000;
  return `${time.toISOString()} (${delta >= 0 ? `in ${humanAge(delta)}` : `${humanAge(-delta)} ago`})`;
}

/** The terminal's width; COLUMNS or 120 when stdout is not a terminal. */
export function outputWidth(): number {
  const columns = process.stdout.columns;
  if (typeof columns === "number" && columns > 0) return columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 20 ? env : 120;
}

/** Every secret the configuration holds: printed output is scrubbed of each, whatever carried it
 * there (an SMTP error quoting a credential, a URL in a last_error). Very short values are left
 * out, since masking every "a" in a table would destroy it without protecting anything real. */
export function configSecrets(config: Config): string[] {
  const secrets = [config.backend.password, config.smtpd.password, config.web.password, ...urlPasswords(config.database.url)];
  // Also as JSON escapes them, so `--json` output is covered by the same plain text replacement.
  const forms = secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
  return [...new Set(forms.filter((s) => s.length >= 4))];
}

function urlPasswords(url: string): string[] {
  try {
    const parsed = new URL(url);
    const found = [parsed.searchParams.get("password") ?? ""];
    if (parsed.password) found.push(parsed.password, decodeURIComponent(parsed.password));
    return found;
  } catch {
    return [];
  }
}

/** Masks the configured secrets and any password written into a URL (user:password@host). */
export function scrub(text: string, secrets: string[]): string {
  let out = text.replace(/(\/\/[^:/@\s"]*:)[^@\s"/]+@/g, "$1***@");
  for (const secret of secrets) out = out.split(secret).join("***");
  return out;
}
