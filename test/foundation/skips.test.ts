// A test that cannot run on this machine must say so: skipped and named (never a silent pass), and a
// failure when CI is set. Checked by running bun test on a small file that uses testIf().
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
// Under the repository, so that bunfig.toml's preload (the counts) applies as to every test file.
const dir = mkdtempSync(join(ROOT, "test", ".skips-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "needs.test.ts");
writeFileSync(
  file,
  `import { testIf } from ${JSON.stringify(join(ROOT, "test/helpers/dialects.ts"))};
testIf(false, "a tmpfs mount is not permitted")("needs a tmpfs", () => {});
testIf(true, "never")("runs here", () => {});
`,
);

async function bunTest(env: Record<string, string | undefined>) {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) merged[k] = v;
  const proc = Bun.spawn([process.execPath, "test", file], { cwd: ROOT, env: merged, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, output: stdout + stderr };
}

test("outside CI: skipped, counted by bun, and named with its reason", async () => {
  const { code, output } = await bunTest({ CI: undefined });
  expect(code).toBe(0);
  expect(output).toMatch(/\b1 skip\b/);
  expect(output).toMatch(/\b1 pass\b/);
  expect(output).toContain("SKIPPED (cannot run on this machine): needs a tmpfs: a tmpfs mount is not permitted");
});

test("under CI: a failure that says why", async () => {
  const { code, output } = await bunTest({ CI: "true" });
  expect(code).not.toBe(0);
  expect(output).toMatch(/\b1 fail\b/);
  expect(output).toContain("cannot run here (a tmpfs mount is not permitted), and CI is set");
});
