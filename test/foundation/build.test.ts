// scripts/build.ts: it removes the last build's source maps before a build (each build names its
// chunks anew), taking only its own maps; and it records the binary's common start-ups to lay its
// bytecode out by (scripts/bytecode-order.ts).
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { recordStartups } from "../../scripts/bytecode-order.ts";
import { isSourceMap } from "../../scripts/build.ts";
import { tempDir } from "../helpers/db.ts";
import { BINARY } from "../helpers/cli.ts";

test("a build takes its own source maps for the last build's, and nothing else in the directory", () => {
  const outfile = "/opt/mailer/bin/mailer";
  const maps = ["mailer.map", "store-worker.js.map", "cli-08rxj3ys.js.map", "web-pejqv2jp.js.map", "smtp-intake-a1b2c3d4.js.map"];
  const others = ["mailer", "mailer.toml", "sendmail", "notes.map", "other.map", "cli-08rxj3ys.js", "cli.js.map.bak", "mailer-old.map", "cli-short.js.map"];
  expect(maps.filter((name) => isSourceMap(name, outfile))).toEqual(maps);
  expect(others.filter((name) => isSourceMap(name, outfile))).toEqual([]);
  // Another outfile's own map is not this build's.
  expect(isSourceMap("mailer.map", "/tmp/mailer-arm64")).toBe(false);
  expect(isSourceMap("mailer-arm64.map", "/tmp/mailer-arm64")).toBe(true);
});

test("the built binary's start-ups are recorded, most common first, each a profile of the functions it ran", async () => {
  const dir = tempDir();
  try {
    const profiles = await recordStartups(BINARY, dir.path);
    expect(profiles.map((p) => p.slice(dir.path.length + 1))).toEqual(["sendmail.order", "send-mail.order", "queue.order", "version.order"]);
    const functions = profiles.map((p) => readFileSync(p, "utf8").split("\n").filter((line) => line.startsWith("F ")).length);
    // --version runs the least of our code, sendmail -t far more.
    for (const count of functions) expect(count).toBeGreaterThan(20);
    expect(functions[0]!).toBeGreaterThan(functions[3]!);
  } finally {
    dir.cleanup();
  }
});

test("a start-up that fails stops the build, naming the command and its error", async () => {
  const dir = tempDir();
  try {
    const broken = join(dir.path, "broken-mailer");
    writeFileSync(broken, "#!/bin/sh\necho \"mailer: cannot start\" >&2\nexit 70\n", { mode: 0o755 });
    await expect(recordStartups(broken, dir.path)).rejects.toThrow(/broken-mailer sendmail -t -oi exited 70 while recording its start-up: mailer: cannot start/);
  } finally {
    dir.cleanup();
  }
});
