// Loading the configuration: flag > environment > file > built-in default, every problem reported at once.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type Toml from "toml";
import { ConfigError } from "../errors.ts";
import { maskUrl, serverKind } from "../db/db-url.ts";
import { KEYS, KEYS_BY_SECTION, SECTIONS, envName, keyPath, type KeySpec, type Value } from "./schema.ts";
import { closest } from "./suggest.ts";
import { keyLines } from "./toml-lines.ts";
import { nativeTomlParser, nodeRequire } from "../runtime.ts";
import type { Config } from "./types.ts";

export interface LoadOptions {
  /** --config PATH */
  path?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** The sendmail intake refuses to run on defaults alone (it would create a stray database). */
  requireFile?: boolean;
  /** Where the last-resort file lives; overridable for tests. */
  systemPath?: string;
  /** The sections (and top-level keys, e.g. "error_handler") the command reads; absent = all. A problem
   * anywhere else is a warning, and only these sections' secrets are resolved (a `password_env` the
   * worker needs does not stop `sendmail` or `status` where that variable is unset). A function is
   * asked with the values read, for a command whose needs depend on them (sendmail: [database] only
   * without a spool). */
  uses?: readonly string[] | ((value: (path: string) => Value) => readonly string[]);
}

export interface Loaded {
  config: Config;
  warnings: string[];
}

export const SYSTEM_CONFIG = "/etc/mailer/mailer.toml";

/** Which file applies: --config, then $MAILER_CONFIG, then ./mailer.toml, then /etc/mailer/mailer.toml. */
export function locateConfig(options: LoadOptions): string | null {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const named = options.path ?? env.MAILER_CONFIG;
  if (named !== undefined && named !== "") {
    const full = resolve(cwd, named);
    const origin = options.path !== undefined ? "--config" : "MAILER_CONFIG";
    if (!existsSync(full)) throw new ConfigError(`${full}: config file not found (named by ${origin})`);
    return full;
  }
  for (const candidate of [resolve(cwd, "mailer.toml"), options.systemPath ?? SYSTEM_CONFIG]) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** A value as quoted in an error. A secret's value is never quoted, only its kind: a password
 * written as a TOML number (`password = 87654321`) must not reach a log or a terminal. */
function describe(value: unknown, secret = false): string {
  if (secret) return typeof value === "string" ? "a string" : Array.isArray(value) ? "an array" : value !== null && typeof value === "object" ? "a table" : `a ${typeof value}`;
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "an array";
  if (value !== null && typeof value === "object") return "a table";
  return String(value);
}

/** Bun's own TOML parser is native; the `toml` package (a generated parser) cost about 0.6 ms more
 * of every command's start-up, to load it and parse a small file (compiled programs doing only
 * that). The package still parses where Bun is not the runtime (the library on Deno), and any file
 * Bun refuses: its error names the line and column, and it stays the judge of what is valid (the two
 * agree on every file tried, valid or not). Required on first use, so a valid file never loads it. */
const nativeParse = nativeTomlParser();
const tomlPackage = (): typeof Toml => (typeof require === "function" ? require("toml") : nodeRequire("toml")) as typeof Toml;

function parseToml(file: string, text: string): Record<string, unknown> {
  if (nativeParse) {
    try {
      return nativeParse(text) as Record<string, unknown>;
    } catch {
      // The package's verdict, below.
    }
  }
  try {
    return tomlPackage().parse(text) as Record<string, unknown>;
  } catch (error) {
    const e = error as { message?: string; location?: { start?: { line?: number; column?: number } } };
    const at = e.location?.start;
    const where = at?.line ? `${file}:${at.line}:${at.column ?? 1}` : file;
    throw new ConfigError(`${where}: malformed TOML: ${e.message ?? String(error)}`);
  }
}

/** A parsed file: its values, and the line of each key, scanned only when a message needs one. */
interface ParsedFile {
  text: string;
  data: Record<string, unknown>;
  lines: Map<string, number> | null;
}

/** The last text parsed and what came of it. runmailer's watcher reloads files that did not change:
 * the same text is parsed once. Frozen, since every
 * load that shares it reads values (lists included) out of it. */
let lastParsed: ParsedFile | null = null;
function parsed(file: string, text: string): ParsedFile {
  if (lastParsed?.text !== text) lastParsed = { text, data: deepFreeze(parseToml(file, text)), lines: null };
  return lastParsed;
}

const lineOf = (file: ParsedFile, path: string) => (file.lines ??= keyLines(file.text)).get(path);

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** The offset of the first byte that is not part of valid UTF-8 (for the error's line number). */
function firstInvalidUtf8(bytes: Buffer): number {
  let low = 0;
  let high = bytes.length;
  const valid = (end: number) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, end), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (valid(mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** A key as quoted in an error: a hostile file's 100 kB key is not echoed back in full. */
const shown = (key: string) => (key.length > 64 ? `${key.slice(0, 60)}…` : key);

/** A problem and the part of the config it belongs to: a section, a top-level key, or null (an unknown
 * top-level name that suggests no section). */
interface Problem {
  area: string | null;
  text: string;
}

/** Unknown sections and keys, each with a suggestion where one is close. */
function unknownKeys(data: Record<string, unknown>, where: (path: string) => string): Problem[] {
  const problems: Problem[] = [];
  const topKeys = KEYS_BY_SECTION.get(null)!.map((k) => k.key);
  for (const [name, value] of Object.entries(data)) {
    if (SECTIONS.includes(name)) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        problems.push({ area: name, text: `${where(name)}: ${name}: expected a [${name}] table, got ${describe(value)}` });
        continue;
      }
      const known = KEYS_BY_SECTION.get(name)!.map((k) => k.key);
      for (const key of Object.keys(value)) {
        if (known.includes(key)) continue;
        const hint = closest(key, known);
        const text = `${where(`${name}.${key}`)}: unknown key ${name}.${shown(key)}${hint ? ` (did you mean ${name}.${hint}?)` : ""}`;
        problems.push({ area: name, text });
      }
    } else if (!topKeys.includes(name)) {
      const near = closest(name, [...SECTIONS, ...topKeys]);
      const misplaced = KEYS.find((k) => k.section !== null && k.key === name);
      const hint = near ?? (misplaced ? `${keyPath(misplaced)} under [${misplaced.section}]` : null);
      // A misspelt [section] or a section key written at the top belongs to that section.
      const area = near ?? misplaced?.section ?? null;
      problems.push({ area, text: `${where(name)}: unknown key ${shown(name)}${hint ? ` (did you mean ${hint}?)` : ""}` });
    }
  }
  return problems;
}

function rawValue(data: Record<string, unknown>, spec: KeySpec): unknown {
  if (spec.section === null) return data[spec.key];
  const table = data[spec.section];
  return table !== null && typeof table === "object" && !Array.isArray(table)
    ? (table as Record<string, unknown>)[spec.key]
    : undefined;
}

export function loadConfig(options: LoadOptions = {}): Loaded {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = locateConfig(options);
  if (file === null && options.requireFile) {
    throw new ConfigError(
      `no config file: pass --config PATH, set MAILER_CONFIG, or write ./mailer.toml or ${options.systemPath ?? SYSTEM_CONFIG}`,
    );
  }
  let parsedFile: ParsedFile | null = null;
  if (file !== null) {
    let text: string;
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      throw new ConfigError(`${file}: cannot read config file: ${(error as Error).message}`);
    }
    try {
      // TOML is UTF-8; decoding leniently would turn a bad byte in a password or host into U+FFFD.
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      const line = bytes.subarray(0, firstInvalidUtf8(bytes)).toString("latin1").split("\n").length;
      throw new ConfigError(`${file}:${line}: not valid UTF-8 (a TOML file must be UTF-8)`);
    }
    parsedFile = parsed(file, text);
  }
  const data = parsedFile?.data ?? {};
  const where = (path: string) => {
    const line = parsedFile ? lineOf(parsedFile, path) : undefined;
    return line ? `${file}:${line}` : (file ?? "config");
  };

  const problems = unknownKeys(data, where);
  const values = new Map<string, Value>();
  const fromFile = new Set<string>();
  for (const spec of KEYS) {
    const path = keyPath(spec);
    const variable = envName(spec);
    const envValue = env[variable];
    const fileValue = rawValue(data, spec);
    const fallback = spec.path && typeof spec.default === "string" && spec.default !== "" ? resolve(cwd, spec.default) : spec.default;
    let raw: unknown;
    if (envValue !== undefined) {
      raw = envValue;
    } else if (fileValue !== undefined) {
      raw = fileValue;
      fromFile.add(path);
    } else {
      values.set(path, fallback);
      continue;
    }
    // An empty environment value means "absent" for keys whose default is absent (no limit).
    if (envValue === "" && spec.default === null) {
      values.set(path, null);
      continue;
    }
    const parsed = spec.parse(raw, envValue !== undefined);
    if ("expected" in parsed) {
      const secret = spec.key === "password";
      const origin = envValue !== undefined ? `environment ${variable}` : where(path);
      problems.push({ area: spec.section ?? spec.key, text: `${origin}: ${path}: expected ${parsed.expected}, got ${describe(raw, secret)}` });
      values.set(path, fallback);
      continue;
    }
    let value = parsed.value;
    if (spec.path && typeof value === "string" && value !== "") {
      value = resolve(fromFile.has(path) && file ? dirname(file) : cwd, value);
    }
    values.set(path, value);
  }

  const uses = typeof options.uses === "function" ? options.uses((path) => values.get(path) ?? null) : options.uses;
  // A problem the command depends on stops it; any other is a warning (the value falls back to its default).
  const matters = (area: string | null) => !uses || (area === null ? uses.includes("error_handler") : uses.includes(area));

  const baseDir = file ? dirname(file) : cwd;
  // A database.url of the wrong type is already a problem above; only a string is resolved.
  const rawUrl = values.get("database.url");
  const urlResolved =
    typeof rawUrl === "string" ? resolveDatabaseUrl(rawUrl, fromFile.has("database.url") ? baseDir : cwd) : { url: "" };
  if ("problem" in urlResolved) problems.push({ area: "database", text: `${where("database.url")}: database.url: ${urlResolved.problem}` });

  const get = <T>(path: string) => values.get(path) as T;
  const check = (area: string, path: string, problem: string | null, at = path) => {
    if (problem) problems.push({ area, text: `${where(at)}: ${path}: ${problem}` });
  };
  check("backend", "backend.module", get<string>("backend.type") === "module" && !get<string | null>("backend.module") ? 'required when backend.type = "module"' : null, "backend.type");
  check("retry", "retry.min_backoff", get<number>("retry.min_backoff") > get<number>("retry.max_backoff") ? "must not be longer than retry.max_backoff" : null);
  check("queue", "queue.default_from", defaultFromProblem(get<string>("queue.default_from")));
  // /etc/aliases may be missing (many hosts have none), even when named; another file the operator names may not.
  const aliases = get<string>("queue.aliases");
  const aliasesNamed = fromFile.has("queue.aliases") || env.MAILER_QUEUE_ALIASES !== undefined;
  const aliasesDefault = KEYS.find((k) => keyPath(k) === "queue.aliases")!.default;
  const mustExist = aliasesNamed && aliases !== "" && aliases !== aliasesDefault;
  check("queue", "queue.aliases", mustExist && !existsSync(aliases) ? `file not found: ${aliases}` : null);

  const warnings: string[] = [];
  // A section the command uses must have its secret; any other one is resolved only if it can be, to
  // mask it in what the command prints (a stored error quoting it), and its failure is no one's concern.
  const secret = (section: "backend" | "smtpd" | "web" | "database") =>
    resolveSecret(section, values, env, where, matters(section) ? problems : []);
  const backendPassword = secret("backend");
  const smtpdPassword = secret("smtpd");
  const webPassword = secret("web");
  const databaseUrl = withDatabasePassword(urlResolved, secret("database").value, where, matters("database") ? problems : []);
  if (file && (backendPassword.inFile || smtpdPassword.inFile || webPassword.inFile)) {
    const mode = statSync(file).mode;
    if (mode & 0o004) warnings.push(`${file} holds a password and is world-readable; chmod o-r it`);
  }

  const fatal = problems.filter((p) => matters(p.area)).map((p) => p.text);
  if (fatal.length > 0) throw new ConfigError(byLine(fatal));
  for (const p of byLine(problems.map((p) => p.text))) warnings.push(`${p} (not used by this command; ignored)`);

  const section = (name: string) => Object.fromEntries(KEYS_BY_SECTION.get(name)!.map((k) => [k.key, values.get(keyPath(k))]));
  const backend = section("backend");
  const smtpd = section("smtpd");
  const web = section("web");
  const database = section("database");
  for (const s of [backend, smtpd, web, database]) {
    delete s.password_env;
    delete s.password_file;
  }
  const config = {
    source: file,
    error_handler: get<string | null>("error_handler"),
    database: { ...database, url: databaseUrl },
    backend: { ...backend, password: backendPassword.value },
    delivery: section("delivery"),
    retry: section("retry"),
    queue: section("queue"),
    lock: section("lock"),
    limits: section("limits"),
    smtpd: { ...smtpd, password: smtpdPassword.value },
    web: { ...web, password: webPassword.value },
    metrics: section("metrics"),
    log: section("log"),
  } as unknown as Config;
  return { config, warnings };
}

/** queue.default_from must be one bare address we can put in MAIL FROM. */
function defaultFromProblem(value: string): string | null {
  if (value === "") return null;
  const at = value.lastIndexOf("@");
  return at > 0 && at < value.length - 1 && !/[\s<>()\[\],;\\"]/.test(value) ? null : `expected an address such as "noreply@example.org", got ${JSON.stringify(value)}`;
}

/** Problems in file order (those without a line, e.g. from the environment, last). */
function byLine(problems: string[]): string[] {
  const line = (p: string) => Number(/^[^ ]*?:(\d+)(?::\d+)?: /.exec(p)?.[1] ?? Infinity);
  return problems.map((p, i) => ({ p, i })).sort((a, b) => line(a.p) - line(b.p) || a.i - b.i).map((x) => x.p);
}

/** A database URL as the config takes it: a relative SQLite path resolved against `base`, anything
 * else checked. */
export function resolveDatabaseUrl(url: string, base: string): { url: string } | { problem: string } {
  if (url === "sqlite::memory:") return { url };
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") return { problem: 'expected "sqlite:PATH", got an empty path' };
    return { url: "sqlite:" + (isAbsolute(path) ? path : resolve(base, path)) };
  }
  const kind = serverKind(url);
  if (kind) {
    try {
      new URL(url);
      return { url };
    } catch {
      return { problem: `not a valid ${kind === "postgres" ? "postgres" : "mysql"} URL: ${JSON.stringify(maskUrl(url).replace(/:[^:@/]*@/, ":***@"))}` };
    }
  }
  return { problem: `expected sqlite:PATH, sqlite::memory:, postgres://… or mysql://…, got ${JSON.stringify(maskUrl(url))}` };
}

/** database.url with the password from password_env or password_file put in (a server URL only;
 * one that already carries a password may not get a second). "" when the URL itself was refused. */
function withDatabasePassword(
  resolved: { url: string } | { problem: string },
  password: string,
  where: (path: string) => string,
  problems: Problem[],
): string {
  if (!("url" in resolved)) return "";
  if (password === "") return resolved.url;
  const problem = (text: string) => problems.push({ area: "database", text: `${where("database.password_file")}: database: ${text}` });
  if (!serverKind(resolved.url)) {
    problem("password_env and password_file are for a postgres:// or mysql:// url");
    return resolved.url;
  }
  const url = new URL(resolved.url);
  if (url.password !== "") {
    problem("the url carries a password already; give it in one place");
    return resolved.url;
  }
  url.password = encodeURIComponent(password);
  return url.toString();
}

/** One of password, password_env or password_file; the latter two must resolve. */
function resolveSecret(
  section: "backend" | "smtpd" | "web" | "database",
  values: Map<string, Value>,
  env: Record<string, string | undefined>,
  where: (path: string) => string,
  problems: Problem[],
): { value: string; inFile: boolean } {
  // [database] has no password key of its own (a URL may carry one).
  const variable = values.get(`${section}.password_env`) as string;
  let literal = (values.get(`${section}.password`) as string | undefined) ?? "";
  // password_env = "MAILER_WEB_PASSWORD" names the very variable that overrides web.password: one
  // secret given once, not two.
  if (variable && env[variable] !== undefined && env[variable] === literal) literal = "";
  const path = values.get(`${section}.password_file`) as string;
  const given = [literal && "password", variable && "password_env", path && "password_file"].filter(Boolean);
  if (given.length > 1) {
    problems.push({ area: section, text: `${where(`${section}.password`)}: ${section}: set only one of ${given.join(", ")}` });
    return { value: "", inFile: false };
  }
  if (variable) {
    const value = env[variable];
    if (value === undefined || value === "") {
      problems.push({ area: section, text: `${where(`${section}.password_env`)}: ${section}.password_env: environment variable ${variable} is not set` });
      return { value: "", inFile: false };
    }
    return { value, inFile: false };
  }
  if (path) {
    try {
      return { value: readFileSync(path, "utf8").replace(/\r?\n$/, ""), inFile: false };
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "secret file not found" : (error as Error).message;
      problems.push({ area: section, text: `${where(`${section}.password_file`)}: ${section}.password_file: ${reason}: ${path}` });
      return { value: "", inFile: false };
    }
  }
  return { value: literal, inFile: literal !== "" };
}
