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
const PROBE = `import { isTerminal } from ${JSON.stringify(RUNTIME)}; console.log(JSON.stringify([isTerminal(1), isTerminal(2)]));`;

/** The probe under `sh -c`, with `redirect` applied to it; its stdout and stderr are pipes unless
 * the redirect or script(1) says otherwise. */
async function probe(redirect: string, pty = false): Promise<string> {
  const command = `${process.execPath} --eval '${PROBE}' ${redirect}`;
  const argv = pty ? ["script", "-qec", command, "/dev/null"] : ["sh", "-c", command];
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  return out.trim();
}

test("pipes (cron, systemd's journal, a shell pipeline) are not terminals", async () => {
  expect(await probe("")).toBe("[false,false]");
});

test("a pseudo-terminal is one; stderr to /dev/null or a file is not", async () => {
  const dir = tempDir();
  try {
    expect(await probe("", true)).toBe("[true,true]");
    expect(await probe("2>/dev/null", true)).toBe("[true,false]");
    expect(await probe(`2>${join(dir.path, "err.log")}`, true)).toBe("[true,false]");
  } finally {
    dir.cleanup();
  }
});

test("stdout to /dev/null (a crontab's >/dev/null) is not a terminal; the answer goes to stderr", async () => {
  const toStderr = PROBE.replace("console.log(", "process.stderr.write(").replace("));", ") + \"\\n\");");
  const command = `${process.execPath} --eval '${toStderr}' >/dev/null`;
  const proc = Bun.spawn(["script", "-qec", command, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  expect(out.trim()).toBe("[false,true]");
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

test("standard input: a terminal under script(1), not when it is /dev/null or a pipe", async () => {
  const stdinProbe = `import { isTerminal } from ${JSON.stringify(RUNTIME)}; console.log(String(isTerminal(0)));`;
  const run = async (argv: string[]) => {
    const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "pipe" });
    proc.stdin.end();
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    return out.trim();
  };
  expect(await run(["script", "-qec", `${process.execPath} --eval '${stdinProbe}'`, "/dev/null"])).toBe("true");
  expect(await run(["script", "-qec", `${process.execPath} --eval '${stdinProbe}' </dev/null`, "/dev/null"])).toBe("false");
  expect(await run([process.execPath, "--eval", stdinProbe])).toBe("false");
});

test("mailer queue with nothing to queue at a terminal says what to give it (exit 64) instead of waiting", async () => {
  const dir = tempDir();
  try {
    const config = join(dir.path, "mailer.toml");
    await Bun.write(config, `[database]\nurl = "sqlite:${join(dir.path, "mail.db")}"\n`);
    const proc = Bun.spawn(["script", "-qec", `${BINARY} queue --config ${config}`, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "pipe" });
    proc.stdin.end();
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(out).toContain("pipe a complete message on stdin");
    expect(code).toBe(64);
  } finally {
    dir.cleanup();
  }
});
