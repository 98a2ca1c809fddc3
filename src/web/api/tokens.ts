// API bearer tokens: `mailer web token add NAME --scope send|read|admin` prints a token once and
// keeps only its SHA-256 in [web] tokens_file, one line per token:
//   NAME <TAB> SCOPE <TAB> sha256:HEX <TAB> CREATED
// The file is re-read when it changes, so a token added or revoked works without a restart.
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { ConfigError, UsageError } from "../../errors.ts";

export const SCOPES = ["send", "read", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenEntry {
  name: string;
  scope: Scope;
  hash: string;
  created: string;
}

/** admin may do everything; read and send only their own part. */
export const allows = (held: Scope, needed: Scope) => held === "admin" || held === needed;

const hashOf = (token: string) => "sha256:" + createHash("sha256").update(token).digest("hex");

export function parseTokens(text: string, path: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [name = "", scope = "", hash = "", created = ""] = line.split("\t");
    if (!name || !SCOPES.includes(scope as Scope) || !/^sha256:[0-9a-f]{64}$/.test(hash)) {
      throw new ConfigError(`${path}:${i + 1}: expected NAME<TAB>send|read|admin<TAB>sha256:HEX<TAB>CREATED (written by mailer web token add)`);
    }
    entries.push({ name, scope: scope as Scope, hash, created });
  }
  return entries;
}

export function readTokens(path: string): TokenEntry[] {
  if (!existsSync(path)) return [];
  return parseTokens(readFileSync(path, "utf8"), path);
}

function writeTokens(path: string, entries: TokenEntry[]): void {
  const text = "# mailer API tokens (mailer web token add|list|revoke); only hashes are kept\n" +
    entries.map((e) => [e.name, e.scope, e.hash, e.created].join("\t") + "\n").join("");
  // Written aside and renamed over: a reader never sees half a file. Owner-only: the hashes are not
  // the tokens, but nobody else needs them.
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A new token for NAME; returns the token itself, which is shown once and never stored. */
export function addToken(path: string, name: string, scope: string, now: Date): string {
  if (!NAME.test(name)) throw new UsageError(`web token add: NAME must be letters, digits, ".", "_" or "-" (up to 64), got ${JSON.stringify(name)}`);
  if (!SCOPES.includes(scope as Scope)) throw new UsageError(`web token add: --scope must be send, read or admin, got ${JSON.stringify(scope)}`);
  const entries = readTokens(path);
  if (entries.some((e) => e.name === name)) throw new UsageError(`web token add: a token named ${name} exists; revoke it first`);
  const token = "mailer_" + randomBytes(32).toString("base64url");
  writeTokens(path, [...entries, { name, scope: scope as Scope, hash: hashOf(token), created: now.toISOString() }]);
  return token;
}

export function revokeToken(path: string, name: string): boolean {
  const entries = readTokens(path);
  const kept = entries.filter((e) => e.name !== name);
  if (kept.length === entries.length) return false;
  writeTokens(path, kept);
  return true;
}

/** Looks tokens up by hash, re-reading the file when its modification time or size changes. */
export class TokenBook {
  #stamp = "";
  #byHash = new Map<string, TokenEntry>();
  constructor(private readonly path: string) {}

  find(token: string): TokenEntry | null {
    if (!this.path) return null;
    let stamp = "missing";
    try {
      const s = statSync(this.path);
      stamp = `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {}
    if (stamp !== this.#stamp) {
      this.#byHash = new Map(readTokens(this.path).map((e) => [e.hash, e]));
      this.#stamp = stamp;
    }
    return this.#byHash.get(hashOf(token)) ?? null;
  }

  /** An `Authorization: Bearer …` header: whether it names a token at all, and the entry it names. */
  fromHeader(header: string | undefined): { given: boolean; entry: TokenEntry | null } {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1];
    return token === undefined ? { given: false, entry: null } : { given: true, entry: this.find(token) };
  }
}
