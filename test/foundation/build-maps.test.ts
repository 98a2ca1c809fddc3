// scripts/build.ts removes the last build's source maps before a build (each build names its chunks
// anew): the files it takes for maps, and the ones it must leave alone in the same directory.
import { expect, test } from "bun:test";
import { isSourceMap } from "../../scripts/build.ts";

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
