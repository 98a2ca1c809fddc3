// The one module that knows which JavaScript runtime it is on. Everything Bun-only (or Deno-only)
// lives here so the rest of the sources run unchanged on both.
import { fstatSync, writeSync } from "node:fs";
import type { SqliteDatabase } from "kysely";
import { ConfigError } from "./errors.ts";
import { TurnBuffer } from "./turn-buffer.ts";

export const runtimeName: "bun" | "deno" | "node" =
  typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? "bun"
    : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
      ? "deno"
      : "node";

/** The URL of a module under src/ by its path from there, e.g. for `new Worker`. This file sits at
 * the root of src/, both in the sources and in the compiled binary's bundle (where scripts/build.ts
 * adds each worker script as an entry point at its path under src/). */
export const sourceUrl = (pathFromSrc: string) => new URL(`./${pathFromSrc}`, import.meta.url).href;

export interface SqliteHandle extends SqliteDatabase {
  /** Run one statement with no result, e.g. a PRAGMA. */
  exec(sql: string): void;
}

/** Open an SQLite file in the shape Kysely's SqliteDialect expects. */
export async function openSqlite(path: string): Promise<SqliteHandle> {
  if (runtimeName === "bun") {
    const { Database } = await import("bun:sqlite");
    const db = new Database(path, { create: true, strict: false });
    return {
      // db.query caches the prepared statement per SQL text, so hot queries are prepared once.
      prepare: (sql: string) => db.query(sql) as never,
      close: () => db.close(),
      exec: (sql: string) => void db.run(sql),
    };
  }
  return openNodeSqlite(path);
}

/** SQLite under Deno (and Node): node:sqlite's DatabaseSync, adapted to Kysely's SqliteDatabase. */
async function openNodeSqlite(path: string): Promise<SqliteHandle> {
  let DatabaseSync: typeof import("node:sqlite").DatabaseSync;
  try {
    ({ DatabaseSync } = await import("node:sqlite"));
  } catch {
    // Node.js before 22.5 has no node:sqlite (and no other SQLite without a native add-on).
    throw new ConfigError(
      `database.url: SQLite on Node.js needs node:sqlite (Node.js 22.5 or later); this is Node.js ${process.versions.node}. ` +
        "Use a postgres:// database.url, or run under Bun or Deno",
    );
  }
  const db = new DatabaseSync(path);
  type Statement = ReturnType<typeof db.prepare>;
  // Prepared once per SQL text, as bun:sqlite's db.query does; Kysely re-issues the same texts.
  const cache = new Map<string, { stmt: Statement; reader: boolean }>();
  return {
    prepare(sql: string) {
      let entry = cache.get(sql);
      if (!entry) {
        const stmt = db.prepare(sql);
        // SQLite itself says whether a statement returns rows (a SELECT, a PRAGMA, an
        // INSERT … RETURNING), which no regex over the SQL text can get right every time.
        entry = { stmt, reader: returnsRows(stmt, sql) };
        cache.set(sql, entry);
      }
      const { stmt, reader } = entry;
      return {
        reader,
        all: (params: ReadonlyArray<unknown>) => stmt.all(...bindable(params)),
        run: (params: ReadonlyArray<unknown>) => {
          const { changes, lastInsertRowid } = stmt.run(...bindable(params));
          return { changes, lastInsertRowid };
        },
        iterate: (params: ReadonlyArray<unknown>) => stmt.iterate(...bindable(params)) as IterableIterator<unknown>,
      };
    },
    close: () => db.close(),
    exec: (sql: string) => db.exec(sql),
  };
}

/** StatementSync#columns() arrived in Node 22.16; older runtimes fall back to reading the SQL. */
function returnsRows(stmt: { columns?: () => unknown[] }, sql: string): boolean {
  if (typeof stmt.columns === "function") return stmt.columns().length > 0;
  return /^\s*(select|with|pragma|values)\b/i.test(sql) || /\breturning\b/i.test(sql);
}

type SqliteValue = null | number | bigint | string | Uint8Array;

/** bun:sqlite binds true/false as 1/0 and undefined as NULL; node:sqlite refuses both, so they are
 * converted here and the same queries behave the same on both runtimes. */
function bindable(params: ReadonlyArray<unknown>): SqliteValue[] {
  return params.map((p) => (typeof p === "boolean" ? (p ? 1 : 0) : p === undefined ? null : (p as SqliteValue)));
}

/** True when `pid` names a live process in this PID namespace (EPERM still means it exists). */
export function processExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Writes `text` to standard output. On Bun through Bun.stdout: process.stdout is built on first use
 * as a Node stream, which costs a short command (`mailer queue` printing its id) about as much as the
 * rest of its start-up. Only for commands whose stdout is this one write. */
export async function writeStdout(text: string): Promise<void> {
  const bun = (globalThis as { Bun?: { write(to: unknown, text: string): Promise<number>; stdout: unknown } }).Bun;
  if (bun) await bun.write(bun.stdout, text);
  else process.stdout.write(text);
}

/** Writes `text` to standard error: at the end of this turn of the event loop, joined with whatever
 * else was written in it (turn-buffer.ts says why, and what is kept). Every writer of standard error
 * goes through here, so that lines stay in order. */
export function writeStderr(text: string): void {
  stderrBuffer.add(text);
}

/** As Node.js's stderr does for files and pipes, but through the descriptor: building process.stderr
 * on first use (see writeStdout) cost about 12 ms of every run that logs a line (a cron `send-mail`
 * that sends anything). A descriptor that would block (a full non-blocking pipe) hands what is left,
 * and every later write, to process.stderr, which waits for it, so lines stay in order. Nowhere to
 * write (a closed stderr) drops the text: a log line must never stop the worker. */
function writeStderrNow(text: string): void {
  if (stderrViaStream) {
    process.stderr.write(text);
    return;
  }
  let bytes = Buffer.from(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(writeSync(2, bytes));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EAGAIN") return;
    stderrViaStream = true;
    process.stderr.write(bytes);
  }
}

let stderrViaStream = false;
const stderrBuffer = new TurnBuffer(writeStderrNow);

/** Whether standard input (0), output (1) or error (2) is a terminal. Asking process.stdin/stdout/
 * stderr builds the stream, for the reason writeStdout gives; the usual answers under cron, systemd
 * or a redirect cost one fstat here instead: a pipe, a socket or a file is not a character device,
 * and /dev/null is one of Linux's memory devices, which are never terminals. */
export function isTerminal(fd: 0 | 1 | 2): boolean {
  try {
    if (surelyNotTerminal(fstatSync(fd))) return false;
  } catch {
    return false;
  }
  // Only the stream asked about is built.
  return (fd === 0 ? process.stdin : fd === 1 ? process.stdout : process.stderr).isTTY === true;
}

/** The cheap half of isTerminal: true for what cannot be a terminal, false for what may be one. */
export function surelyNotTerminal(stat: { isCharacterDevice(): boolean; rdev: number }): boolean {
  if (!stat.isCharacterDevice()) return true;
  return process.platform === "linux" && ((stat.rdev >> 8) & 0xfff) === LINUX_MEMORY_DEVICES;
}

/** The major device number of /dev/null, /dev/zero, /dev/full and /dev/random on Linux. */
const LINUX_MEMORY_DEVICES = 1;

/** Standard input as byte chunks. On Bun through Bun.stdin, for the reason writeStdout gives:
 * process.stdin is a Node stream built on first use. */
export function standardInput(): AsyncIterable<Uint8Array> {
  const bun = (globalThis as { Bun?: { stdin: { stream(): ReadableStream<Uint8Array> } } }).Bun;
  return bun ? (bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>) : process.stdin;
}

/** CommonJS `require` for ES modules on runtimes that have none in them (Node.js, Deno), for loading
 * a package only when it is first needed. Bun has `require` in ES modules, and its bundler follows a
 * literal `require("x")` into the compiled binary, so a caller writes
 * `typeof require === "function" ? require("x") : nodeRequire("x")`. */
export function nodeRequire(id: string): unknown {
  const load = process as unknown as { getBuiltinModule(id: "node:module"): typeof import("node:module") };
  return load.getBuiltinModule("node:module").createRequire(import.meta.url)(id);
}

/** Bun's native TOML parser, or null on other runtimes (config/load.ts falls back to the toml package). */
export function nativeTomlParser(): ((text: string) => unknown) | null {
  const bun = (globalThis as { Bun?: { TOML: { parse(text: string): unknown } } }).Bun;
  return bun ? (text) => bun.TOML.parse(text) : null;
}

/** Runs the garbage collector now where the runtime lets us (Bun). Buffers live outside the JS heap,
 * which can stay small while megabytes of released message text wait for a collection: a server that
 * promises a memory ceiling collects after each large message instead of waiting. */
export function collectGarbage(): void {
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
}

/** The compiled binary starts with JavaScriptCore's JIT tier-up thresholds scaled up (scripts/build.ts
 * --compile-jit-policy): most runs are short commands (sendmail from cron, an empty send-mail) whose
 * code runs once, and compiling it on the JIT threads only takes CPU from them. A thread still
 * running after STARTUP_MS is a long one (a drain, a worker, a server) and gets the normal policy back.
 * setJITPolicy acts on the calling thread's VM, so the database worker thread calls this as well. */
const STARTUP_MS = 50;
export function normalJitPolicyAfterStartup(): void {
  const unsafe = (globalThis as { Bun?: { unsafe?: { setJITPolicy?(scale: number): void } } }).Bun?.unsafe;
  if (!unsafe?.setJITPolicy) return;
  const timer = setTimeout(() => unsafe.setJITPolicy!(1), STARTUP_MS) as unknown as { unref?(): void };
  timer.unref?.();
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

export interface HttpServer {
  host: string;
  port: number;
  /** Stops listening; requests in flight finish. */
  stop(): Promise<void>;
}

/** A web-standard fetch handler served over HTTP, with the client's address beside each request
 * (for login throttling and the access log). Bun.serve or Deno.serve. */
export async function serveHttp(
  listen: { host: string; port: number },
  handler: (request: Request, clientIp: string) => Response | Promise<Response>,
): Promise<HttpServer> {
  const g = globalThis as any;
  if (runtimeName === "bun") {
    const server = g.Bun.serve({
      hostname: listen.host,
      port: listen.port,
      // Large enough for a purge or a bulk selection form; an enqueue API sets its own limit.
      maxRequestBodySize: 64 * 1024 * 1024,
      fetch: (request: Request, srv: any) => handler(request, srv.requestIP(request)?.address ?? ""),
    });
    return { host: listen.host, port: server.port, stop: async () => void (await server.stop()) };
  }
  if (runtimeName === "deno") {
    let bound = listen.port;
    const ready = Promise.withResolvers<void>();
    const server = g.Deno.serve(
      { hostname: listen.host, port: listen.port, onListen: (addr: { port: number }) => ((bound = addr.port), ready.resolve()) },
      (request: Request, info: { remoteAddr: { hostname: string } }) => handler(request, info.remoteAddr.hostname),
    );
    await ready.promise;
    return { host: listen.host, port: bound, stop: () => server.shutdown() };
  }
  throw new ConfigError("mailer web runs under Bun (the compiled binary) or Deno");
}
