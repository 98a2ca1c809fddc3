// npm run package [-- --binary PATH] [--arch amd64|arm64]: dist/mailer_<version>_<arch>.deb, built by
// dpkg-deb from the files in packaging/debian/ and the compiled binary (npm run build makes it).
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { dirname, join, relative } from "node:path";
import { parseArgs } from "node:util";

const ROOT = join(import.meta.dir, "..");
const PACKAGING = join(ROOT, "packaging/debian");

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { binary: { type: "string", default: join(ROOT, "dist/mailer") }, arch: { type: "string" }, out: { type: "string", default: join(ROOT, "dist") } },
});
const version: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
const arch = values.arch ?? Bun.spawnSync(["dpkg", "--print-architecture"]).stdout.toString().trim();
const stage = join(values.out!, `deb-${arch}`);
rmSync(stage, { recursive: true, force: true });

function put(target: string, from: string | { text: string | Uint8Array }, mode = 0o644): void {
  const path = join(stage, target);
  mkdirSync(dirname(path), { recursive: true });
  if (typeof from === "string") copyFileSync(from, path);
  else writeFileSync(path, from.text);
  chmodSync(path, mode);
}
function link(target: string, pointsTo: string): void {
  const path = join(stage, target);
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync(relative(dirname(path), join(stage, pointsTo)), path);
}

put("usr/bin/mailer", values.binary!, 0o755);
// Plain links, as Debian's MTAs ship them (postfix, exim4, nullmailer): MTAs exclude each other by
// Conflicts/Provides mail-transport-agent rather than sharing these names through alternatives.
link("usr/sbin/sendmail", "usr/bin/mailer");
link("usr/lib/sendmail", "usr/sbin/sendmail");
link("usr/bin/mailq", "usr/bin/mailer");
link("usr/bin/newaliases", "usr/bin/mailer");
put("etc/mailer/mailer.toml", join(PACKAGING, "mailer.toml"));
put("etc/cron.d/mailer", join(PACKAGING, "cron.d"));
put("lib/systemd/system/mailer.service", join(PACKAGING, "mailer.service"));
put("usr/share/lintian/overrides/mailer", join(PACKAGING, "lintian-overrides"));
const doc = "usr/share/doc/mailer";
put(`${doc}/copyright`, join(PACKAGING, "copyright"));
for (const file of ["deployment.md", "security.md", "operations.md"]) put(`${doc}/${file}`, join(ROOT, "docs", file));
put(`${doc}/mailer.toml.example`, join(ROOT, "mailer.toml.example"));
const changelog = `mailer (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- mailer developers <mailer@example.org>  ${new Date(0).toUTCString().replace("GMT", "+0000")}\n`;
put(`${doc}/changelog.gz`, { text: gzipSync(changelog, { level: 9 }) });

// The control area: what dpkg reads.
const files: string[] = [];
const walk = (dir: string) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.isFile()) files.push(path);
  }
};
walk(stage);
const sizeKb = Math.ceil(files.reduce((sum, f) => sum + statSync(f).size, 0) / 1024);
const control = readFileSync(join(PACKAGING, "control.in"), "utf8")
  .replace("@VERSION@", version)
  .replace("@ARCH@", arch)
  .replace("@SIZE@", String(sizeKb));
put("DEBIAN/control", { text: control });
put("DEBIAN/conffiles", join(PACKAGING, "conffiles"));
for (const script of ["postinst", "prerm", "postrm"]) put(`DEBIAN/${script}`, join(PACKAGING, script), 0o755);
const md5 = files
  .map((f) => `${createHash("md5").update(readFileSync(f)).digest("hex")}  ${relative(stage, f)}`)
  .join("\n");
put("DEBIAN/md5sums", { text: md5 + "\n" });

const deb = join(values.out!, `mailer_${version}_${arch}.deb`);
const build = Bun.spawnSync(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", stage, deb], { stdout: "inherit", stderr: "inherit" });
if (build.exitCode !== 0) process.exit(build.exitCode ?? 1);
rmSync(stage, { recursive: true, force: true });
console.log(`built ${relative(ROOT, deb)}`);
