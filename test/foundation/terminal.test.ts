// isTerminal (src/runtime.ts) answers without building process.stdout/stderr wherever it can: a pipe,
// a file or /dev/null is never a terminal. Each case runs it in a child whose stdout and stderr are
// what cron, systemd, a redirect or script(1)'s pseudo-terminal give.
import { expect, test } from "bun:test";
import { closeSync, openSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { surelyNotTerminal } from "../../src/runtime.ts";
import { BINARY } from "../helpers/cli.ts";
import { tempDir } from "../helpers/db.ts";

const RUNTIME = resolve(import.meta.dir, "../../src/runtime.ts");

/** The command under `sh -c` (or script(1)'s pseudo-terminal) with its output and exit code; its
 * stdin, stdout and stderr are pipes unless a redirect or script(1) says otherwise. */
async function run(command: string, pty = false): Promise<{ out: string; code: number }> {
  const argv = pty ? ["script", "-qec", command, "/dev/null"] : ["sh", "-c", command];
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "pipe" });
  proc.stdin.end();
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  return { out, code };
}

/** isTerminal(0), (1) and (2) as a child sees them with `redirect` applied, written to a file (its
 * own stdout may be the thing redirected away). */
async function answers(redirect: string, pty = false): Promise<[boolean, boolean, boolean]> {
  const dir = tempDir();
  try {
    const file = join(dir.path, "answer.json");
    const probe = `import { isTerminal } from ${JSON.stringify(RUNTIME)}; await Bun.write(${JSON.stringify(file)}, JSON.stringify([0, 1, 2].map((fd) => isTerminal(fd as 0 | 1 | 2))));`;
    const { code } = await run(`${process.execPath} --eval '${probe}' ${redirect}`, pty);
    expect(code).toBe(0);
    return JSON.parse(await Bun.file(file).text());
  } finally {
    dir.cleanup();
  }
}

test("pipes (cron, systemd's journal, a shell pipeline) are not terminals", async () => {
  expect(await answers("")).toEqual([false, false, false]);
});

test("a pseudo-terminal is one; stderr to /dev/null or a file is not", async () => {
  const dir = tempDir();
  try {
    expect(await answers("", true)).toEqual([true, true, true]);
    expect(await answers("2>/dev/null", true)).toEqual([true, true, false]);
    expect(await answers(`2>${join(dir.path, "err.log")}`, true)).toEqual([true, true, false]);
  } finally {
    dir.cleanup();
  }
});

test("stdout to /dev/null (a crontab's >/dev/null) or stdin from it is not a terminal", async () => {
  expect(await answers(">/dev/null", true)).toEqual([true, false, true]);
  expect(await answers("</dev/null", true)).toEqual([false, true, true]);
});

test("the cheap half answers for files, FIFOs and memory devices, and leaves terminal-class devices to isatty", () => {
  const dir = tempDir();
  try {
    expect(surelyNotTerminal(statSync("/dev/null"))).toBe(true);
    expect(surelyNotTerminal(statSync("/dev/zero"))).toBe(true);
    const file = join(dir.path, "f");
    closeSync(openSync(file, "w"));
    expect(surelyNotTerminal(statSync(file))).toBe(true);
    const fifo = join(dir.path, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(surelyNotTerminal(statSync(fifo))).toBe(true);
    // /dev/ptmx, the pseudo-terminal multiplexer, is a character device of the terminal kind.
    expect(surelyNotTerminal(statSync("/dev/ptmx"))).toBe(false);
  } finally {
    dir.cleanup();
  }
});

test("mailer queue with nothing to queue at a terminal says what to give it (exit 64) instead of waiting", async () => {
  const dir = tempDir();
  try {
    const config = join(dir.path, "mailer.toml");
    await Bun.write(config, `[database]\nurl = "sqlite:${join(dir.path, "mail.db")}"\n`);
    const { out, code } = await run(`${BINARY} queue --config ${config}`, true);
    expect(out).toContain("pipe a complete message on stdin");
    expect(code).toBe(64);
  } finally {
    dir.cleanup();
  }
});
