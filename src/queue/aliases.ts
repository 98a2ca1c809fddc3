// The /etc/aliases format (aliases(5)), as Postfix's local(8) and sendmail read it, for rewriting local
// recipients before mail is queued. mailer delivers nothing locally, so the targets that would run a
// program, write a file or read another list (`|cmd`, `/file`, `:include:`) are never followed: they
// are dropped with a problem line, which `newaliases` prints.
import { DataError } from "../errors.ts";
import { parseMailboxes } from "./address.ts";

export interface AliasTable {
  /** The file it came from (for messages). */
  file: string;
  /** lower-cased name -> its usable targets, in file order (refused ones already removed) */
  entries: Map<string, string[]>;
  /** one line per problem, "<file>:<line>: ..." */
  problems: string[];
}

/** Nesting deeper than this is a mistake (or a loop the visited-set rule below did not catch). */
const MAX_DEPTH = 20;

/** Splits a value list on commas outside double quotes. */
function splitTargets(value: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) {
      out.push(current);
      current = "";
    } else current += ch;
  }
  out.push(current);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

const unquote = (text: string) => (text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text);

/** Why a target is refused, or null for an address or a local name. */
function refusal(target: string): string | null {
  if (target.startsWith("|")) return "program targets are not supported (never run)";
  if (target.startsWith("/")) return "file targets are not supported (never written)";
  if (target.toLowerCase().startsWith(":include:")) return ":include: lists are not supported (never read)";
  return null;
}

export function parseAliases(text: string, file: string): AliasTable {
  const table: AliasTable = { file, entries: new Map(), problems: [] };
  // Logical lines: a line starting with white space continues the one before it.
  const logical: Array<{ line: number; text: string }> = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    if (/^\s*#/.test(raw) || raw.trim() === "") return;
    if (/^[ \t]/.test(raw) && logical.length > 0) logical[logical.length - 1]!.text += " " + raw.trim();
    else logical.push({ line: index + 1, text: raw });
  });
  for (const { line, text: entry } of logical) {
    const problem = (what: string) => table.problems.push(`${file}:${line}: ${what}`);
    const match = /^\s*("[^"]*"|[^:\s]+)\s*:(.*)$/.exec(entry);
    if (!match || unquote(match[1]!).trim() === "") {
      problem(`not "name: target, …"; skipped`);
      continue;
    }
    const name = unquote(match[1]!).trim().toLowerCase();
    if (table.entries.has(name)) {
      problem(`duplicate entry for ${name}; the first one is used`);
      continue;
    }
    const targets: string[] = [];
    for (const written of splitTargets(match[2]!)) {
      const target = unquote(written).trim();
      const refused = refusal(target);
      if (refused) {
        problem(`${JSON.stringify(target)} for ${name}: ${refused}; dropped`);
        continue;
      }
      try {
        const [mailbox] = parseMailboxes(target, `alias ${name}`);
        if (mailbox) targets.push(mailbox.address);
      } catch (error) {
        problem(`${JSON.stringify(target)} for ${name}: ${(error as Error).message}; dropped`);
      }
    }
    table.entries.set(name, targets);
  }
  return table;
}

/** Expand one local name through the table, recursively. Addresses with an @ come back as they are;
 * local names that are not aliases, or that name an alias already being expanded (`root: root, a@x`
 * keeps root itself, as sendmail does, and a loop `a: b`, `b: a` ends at the name that closes it), come
 * back bare for the caller to qualify. A name whose entry has no usable target is kept itself, so mail
 * is never dropped in silence. De-duplicated case-insensitively, first spelling kept. */
export function expandLocal(table: AliasTable, name: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (address: string) => {
    const key = address.toLowerCase();
    if (!seen.has(key)) {
      seen.add(key);
      out.push(address);
    }
  };
  const walk = (current: string, chain: string[]) => {
    const key = current.toLowerCase();
    const targets = table.entries.get(key);
    if (current.includes("@") || targets === undefined || targets.length === 0 || chain.includes(key)) return add(current);
    if (chain.length >= MAX_DEPTH) throw new DataError(`aliases nested deeper than ${MAX_DEPTH}: ${[...chain, key].join(" -> ")}`);
    for (const target of targets) walk(target, [...chain, key]);
  };
  walk(name, []);
  return out;
}
