// writeStderr (src/runtime.ts), the way to standard error: a turn's lines in one write
// (turn-buffer.ts), straight to the descriptor, in order, every byte, also when the descriptor is a
// non-blocking pipe that fills up (it then hands the rest to process.stderr, which waits), at
// whatever exit, and without failing when there is no stderr at all.
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { MAX_WAITING, TurnBuffer } from "../../src/turn-buffer.ts";

const nextTurn = () => new Promise((done) => setTimeout(done, 0));

test("the lines of one turn are written once, joined in order, when the turn ends", async () => {
  const writes: string[] = [];
  const buffer = new TurnBuffer((text) => writes.push(text));
  for (let i = 0; i < 500; i++) buffer.add(`line ${i}\n`);
  expect(writes).toEqual([]);
  await nextTurn();
  expect(writes).toEqual([Array.from({ length: 500 }, (_, i) => `line ${i}\n`).join("")]);
  buffer.add("later\n");
  await nextTurn();
  expect(writes).toEqual([expect.any(String), "later\n"]);
});

test("a turn that writes more than MAX_WAITING hands it on as it goes, not all at the end", async () => {
  const writes: string[] = [];
  const buffer = new TurnBuffer((text) => writes.push(text));
  const line = "x".repeat(999) + "\n";
  const lines = Math.ceil((3 * MAX_WAITING) / line.length);
  for (let i = 0; i < lines; i++) buffer.add(line);
  const linesPerWrite = Math.ceil(MAX_WAITING / line.length);
  expect(writes.length).toBe(Math.floor(lines / linesPerWrite));
  for (const text of writes) expect(text.length).toBeLessThan(MAX_WAITING + line.length);
  await nextTurn();
  expect(writes.join("")).toBe(line.repeat(lines));
});

test("flush() writes what waits at once; nothing waiting, nothing written", () => {
  const writes: string[] = [];
  const buffer = new TurnBuffer((text) => writes.push(text));
  buffer.flush();
  buffer.add("a\n");
  buffer.add("b\n");
  buffer.flush();
  buffer.flush();
  expect(writes).toEqual(["a\nb\n"]);
});

/** A line written just before the process ends, each way it can end. */
const ENDINGS: Record<string, { tail: string; code: number }> = {
  "process.exit()": { tail: "process.exit(3);", code: 3 },
  "an uncaught error": { tail: 'throw new Error("boom");', code: 1 },
  "an unhandled rejection": { tail: 'Promise.reject(new Error("boom"));', code: 1 },
  "an error thrown in a later turn": { tail: 'setTimeout(() => { throw new Error("boom"); }, 5);', code: 1 },
  "running out of work": { tail: "", code: 0 },
};

for (const [ending, { tail, code }] of Object.entries(ENDINGS)) {
  test(`the last turn's lines reach stderr when the process ends by ${ending}`, async () => {
    const script = `import { writeStderr } from ${JSON.stringify(RUNTIME)};
await new Promise((done) => setTimeout(done, 1));
for (let i = 0; i < 3; i++) writeStderr("last words " + i + "\\n");
${tail}`;
    const proc = Bun.spawn([process.execPath, "--eval", script], { stdout: "ignore", stderr: "pipe" });
    const [err, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect({ exit, lines: err.split("\n").filter((l) => l.startsWith("last words")) }).toEqual({
      exit: code,
      lines: ["last words 0", "last words 1", "last words 2"],
    });
  });
}

const RUNTIME = resolve(import.meta.dir, "../../src/runtime.ts");
const LINES = 300;
/** Writes LINES numbered lines of 10,000 bytes (3 MB, far past a pipe's 64 KB; longer than PIPE_BUF,
 * so a non-blocking write can take part of a line), then exits 0. */
const WRITER = `import { writeStderr } from ${JSON.stringify(RUNTIME)};
for (let i = 0; i < ${LINES}; i++) writeStderr(String(i).padStart(8, "0") + " " + "x".repeat(9_990) + "\\n");`;

/** The writer with a non-blocking pipe as stderr that is read only after a pause, so that it fills. */
const PARENT = `
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
child = subprocess.Popen([sys.argv[1], "--eval", sys.argv[2]], stderr=w, stdout=subprocess.DEVNULL)
os.close(w)
time.sleep(0.5)
data = b""
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    data += chunk
sys.stdout.buffer.write(data)
sys.exit(child.wait())
`;

test("a full non-blocking pipe loses nothing and keeps the order", async () => {
  const proc = Bun.spawn(["python3", "-c", PARENT, process.execPath, WRITER], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const lines = out.split("\n").filter(Boolean);
  expect(lines).toHaveLength(LINES);
  lines.forEach((line, i) => expect([line.slice(0, 8), line.length]).toEqual([String(i).padStart(8, "0"), 9_999]));
});

test("a blocking pipe gets every line, in order", async () => {
  const proc = Bun.spawn([process.execPath, "--eval", WRITER], { stdout: "ignore", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(code).toBe(0);
  const lines = err.split("\n").filter(Boolean);
  expect(lines).toHaveLength(LINES);
  expect(lines.at(-1)!.slice(0, 8)).toBe(String(LINES - 1).padStart(8, "0"));
});

test("no stderr at all (closed): the writes are dropped and the process carries on", async () => {
  const proc = Bun.spawn(["sh", "-c", `${process.execPath} --eval '${WRITER.replace(/'/g, "'\\''")}; console.log("done")' 2>&-`], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect({ code, out: out.trim() }).toEqual({ code: 0, out: "done" });
});
