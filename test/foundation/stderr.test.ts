// writeStderr (src/runtime.ts), the logger's way to standard error: straight to the descriptor, in
// order, every byte, also when the descriptor is a non-blocking pipe that fills up (it then hands
// the rest to process.stderr, which waits), and without failing when there is no stderr at all.
import { expect, test } from "bun:test";
import { resolve } from "node:path";

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
