// The /etc/aliases format (aliases(5)), as Postfix's local(8) and sendmail read it, for rewriting local
// recipients before mail is queued. mailer delivers nothing locally, so the targets that would run a
// program, write a file or read another list (`|cmd`, `/file`, `:include:`) are never followed: they
// are dropped with a problem line, which `newaliases` prints. Every target is checked here, once, so a
// bad one costs a warning instead of failing each message sent to its alias.
import { DataError } from "../errors.ts";
import { checkAddress, isLocalName, parseMailboxes } from "./address.ts";

export interface AliasTable {
  /** The file it came from (for messages). */
  file: string;
  /** lower-cased name -> its usable targets, in file order (refused ones already removed). A target
   * written `\name` keeps its backslash: it is that local name, never expanded further (aliases(5)). */
  entries: Map<string, string[]>;
  /** one line per problem, "<file>:<line>: ..." */
  problems: string[];
}

/** Nesting deeper than this is a mistake (loops are cut by the rule in expandLocal, not by this). */
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

const unquote = (text: string) => (text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1).trim() : text);

/** Why a target is refused, or null for an address or a local name. */
function refusal(target: string): string | null {
  if (target.startsWith("|")) return "program targets are not supported (never run)";
  if (target.startsWith("/")) return "file targets are not supported (never written)";
  if (target.toLowerCase().startsWith(":include:")) return ":include: lists are not supported (never read)";
  return null;
}

/** The usable form of one written target, or why it is dropped. The refusal is checked on the text as
 * written and again on the address inside it, so `Bob <|cmd>` is no way around it. */
function readTarget(written: string): { target: string } | { why: string } {
  const text = unquote(written);
  const refused = refusal(text);
  if (refused) return { why: refused };
  if (text.startsWith("\\")) return isLocalName(text.slice(1)) ? { target: text } : { why: "not a local name" };
  let address = "";
  try {
    const mailboxes = parseMailboxes(text, "target");
    if (mailboxes.length === 1) address = mailboxes[0]!.address;
  } catch {
    // Only a NUL can get here (lines are already split); reported below like any other bad target.
  }
  if (address === "") return { why: "not one address or local name" };
  const inner = refusal(address);
  if (inner) return { why: inner };
  if (!address.includes("@")) return isLocalName(address) ? { target: address } : { why: "not an email address or a local name" };
  try {
    return { target: checkAddress(address, "target") };
  } catch {
    return { why: "not a valid email address" };
  }
}

export function parseAliases(text: string, file: string): AliasTable {
  const table: AliasTable = { file, entries: new Map(), problems: [] };
  const problem = (line: number, what: string) => table.problems.push(`${file}:${line}: ${what}`);
  // Logical lines: a line starting with white space continues the one before it. Comments and blank
  // lines are dropped first, so they neither end an entry nor continue one.
  const logical: Array<{ line: number; text: string }> = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    if (/^\s*#/.test(raw) || raw.trim() === "") return;
    const last = logical[logical.length - 1];
    if (!/^[ \t]/.test(raw)) logical.push({ line: index + 1, text: raw });
    else if (last) last.text += " " + raw.trim();
    else problem(index + 1, "continuation line with no entry before it; skipped");
  });
  for (const { line, text: entry } of logical) {
    const match = /^("[^"]*"|[^:\s]+)\s*:(.*)$/.exec(entry);
    const name = match ? unquote(match[1]!).toLowerCase() : "";
    if (!match || name === "") {
      problem(line, `not "name: target, …"; skipped`);
      continue;
    }
    if (table.entries.has(name)) {
      problem(line, `duplicate entry for ${name}; the first one is used`);
      continue;
    }
    const written = splitTargets(match[2]!);
    const targets: string[] = [];
    for (const one of written) {
      const read = readTarget(one);
      if ("target" in read) targets.push(read.target);
      else problem(line, `${JSON.stringify(unquote(one))} for ${name}: ${read.why}; dropped`);
    }
    // Kept, empty: the name then stays itself (expandLocal), and a later duplicate still loses to it.
    if (written.length === 0) problem(line, `no targets for ${name}; mail to it stays addressed to ${name}`);
    table.entries.set(name, targets);
  }
  return table;
}

/** Expand one local name through the table, recursively. Addresses with an @ come back as they are;
 * these come back as bare names, for the caller to qualify with a domain:
 * - a name that is no alias, or whose entry has no usable target (mail is never dropped in silence);
 * - a `\name` target, as aliases(5) defines it (the name itself, not looked up);
 * - a name met again while it is still being expanded: `root: root, a@x` keeps root itself, as
 *   sendmail does, and a loop `a: b`, `b: a` ends at the name that closes it (a -> ["a"], b -> ["b"]).
 * A name met again after its expansion finished adds nothing: its recipients are already in the list,
 * and skipping it keeps the work linear however many paths lead to it. De-duplicated
 * case-insensitively, first spelling kept. Nesting deeper than MAX_DEPTH throws, naming the chain. */
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
  const started = new Set<string>();
  const walk = (current: string, chain: string[]): void => {
    if (current.startsWith("\\")) return add(current.slice(1));
    const key = current.toLowerCase();
    const targets = table.entries.get(key);
    if (current.includes("@") || targets === undefined || targets.length === 0 || chain.includes(key)) return add(current);
    if (started.has(key)) return;
    if (chain.length >= MAX_DEPTH) throw new DataError(`aliases nested deeper than ${MAX_DEPTH}: ${[...chain, key].join(" -> ")}`);
    started.add(key);
    for (const target of targets) walk(target, [...chain, key]);
  };
  walk(name, []);
  return out;
}
