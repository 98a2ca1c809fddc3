// npm run release [-- --targets linux-x64,linux-arm64 …]: the binaries for the servers people run, in
// dist/release/: mailer-linux-x64, mailer-linux-x64-musl (Alpine), mailer-linux-arm64 (Graviton,
// Ampere, Raspberry Pi OS 64-bit), mailer-darwin-arm64, a SHA256SUMS, and the Debian package for
// amd64 and arm64. Each target's Bun runtime comes from its @oven/bun-* package on npm (npm pack, the
// registry only), pinned to the Bun version of package-lock.json.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { $ } from "bun";
import { compile, withStartupProfiles } from "./build.ts";

const ROOT = join(import.meta.dir, "..");
const OUT = join(ROOT, "dist/release");
const CACHE = join(ROOT, "dist/.bun-runtimes");

const TARGETS = {
  "linux-x64": { bun: "bun-linux-x64", npm: "@oven/bun-linux-x64", deb: "amd64" },
  "linux-x64-musl": { bun: "bun-linux-x64-musl", npm: "@oven/bun-linux-x64-musl", deb: null },
  "linux-arm64": { bun: "bun-linux-arm64", npm: "@oven/bun-linux-aarch64", deb: "arm64" },
  "darwin-arm64": { bun: "bun-darwin-arm64", npm: "@oven/bun-darwin-aarch64", deb: null },
} as const;
type Target = keyof typeof TARGETS;

const { values } = parseArgs({ args: process.argv.slice(2), options: { targets: { type: "string" } } });
const wanted = (values.targets?.split(",").map((t) => t.trim()) ?? Object.keys(TARGETS)) as Target[];
for (const t of wanted) if (!(t in TARGETS)) throw new Error(`--targets: unknown ${t}; known: ${Object.keys(TARGETS).join(", ")}`);

const bunVersion: string = JSON.parse(readFileSync(join(ROOT, "node_modules/bun/package.json"), "utf8")).version;

/** The target's bun executable, from `npm pack <package>@<version>`, unpacked once into the cache. */
async function runtime(npmName: string): Promise<string> {
  const dir = join(CACHE, `${npmName.replace("/", "+")}-${bunVersion}`);
  const bin = join(dir, "package/bin/bun");
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  await $`npm pack ${npmName}@${bunVersion} --silent --pack-destination ${dir}`.quiet();
  const tarball = readdirSync(dir).find((n) => n.endsWith(".tgz"))!;
  await $`tar xzf ${join(dir, tarball)} -C ${dir}`.quiet();
  return bin;
}

mkdirSync(OUT, { recursive: true });
const built: string[] = [];
await withStartupProfiles(async (bytecodeOrder) => {
  for (const name of wanted) {
    const target = TARGETS[name];
    const outfile = join(OUT, `mailer-${name}`);
    await compile({ outfile, target: target.bun, executablePath: await runtime(target.npm), bytecodeOrder });
    built.push(outfile);
    console.log(`built ${outfile}`);
    if (target.deb) {
      await $`${process.execPath} ${join(ROOT, "scripts/package.ts")} --binary ${outfile} --arch ${target.deb} --out ${OUT}`;
      built.push(join(OUT, readdirSync(OUT).find((n) => n.endsWith(`_${target.deb}.deb`))!));
    }
  }
});
// bun build leaves source maps beside its outputs; the release is the binaries and packages.
for (const map of readdirSync(OUT).filter((n) => n.endsWith(".map"))) rmSync(join(OUT, map));
const sums = built.map((file) => `${createHash("sha256").update(readFileSync(file)).digest("hex")}  ${file.slice(OUT.length + 1)}`);
writeFileSync(join(OUT, "SHA256SUMS"), sums.join("\n") + "\n");
console.log(`wrote ${join(OUT, "SHA256SUMS")}`);
