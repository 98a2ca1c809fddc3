// npm run release: the other platforms' binaries, built from their @oven/bun-* runtimes on npm. The
// arm64 one is run under qemu-user (Debian's qemu-user-static, with libc6-arm64-cross as its sysroot):
// --version, then queue and send-mail to the file backend on SQLite. The musl one is checked for its
// loader (running it needs Alpine's libstdc++). The checksums file matches.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/db.ts";

const ROOT = resolve(import.meta.dir, "../..");
const OUT = join(ROOT, "dist/release");
const QEMU = "/usr/bin/qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu";
const run = (existsSync(QEMU) && existsSync(SYSROOT)) || process.env.CI ? test : test.skip;

const sh = (argv: string[], cwd = ROOT) => {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  dir = tempDir("mailer-release-");
});
afterAll(() => dir.cleanup());

run("the arm64 and musl binaries build from npm's Bun runtimes; arm64 queues and sends under qemu", () => {
  const release = sh([process.execPath, "scripts/release.ts", "--targets", "linux-arm64,linux-x64-musl"]);
  expect([release.code, release.err]).toEqual([0, ""]);
  expect(readdirSync(OUT).sort()).toEqual(expect.arrayContaining(["SHA256SUMS", "mailer-linux-arm64", "mailer-linux-x64-musl", "mailer_0.1.0_arm64.deb"]));
  expect(sh(["sha256sum", "-c", "SHA256SUMS"], OUT).code).toBe(0);
  expect(sh(["file", "-L", join(OUT, "mailer-linux-x64-musl")]).out).toContain("interpreter /lib/ld-musl-x86_64.so.1");
  expect(sh(["dpkg-deb", "-f", join(OUT, "mailer_0.1.0_arm64.deb"), "Architecture"]).out.trim()).toBe("arm64");

  const arm = (args: string[]) => sh([QEMU, "-L", SYSROOT, join(OUT, "mailer-linux-arm64"), ...args], dir.path);
  expect(arm(["--version"]).out).toMatch(/^mailer\/\S+ linux-arm64 /);
  const config = join(dir.path, "mailer.toml");
  writeFileSync(config, `[database]\nurl = "sqlite:${dir.path}/q.db"\n[backend]\ntype = "file"\ndir = "${dir.path}/outbox"\n[lock]\npath = "${dir.path}/send_mail"\n`);
  expect(arm(["queue", "--config", config, "--from", "a@example.com", "--to", "b@example.com", "--subject", "on arm64", "--text", "hello"]).out).toBe("1\n");
  expect(arm(["send-mail", "--config", config]).out).toMatch(/^1 sent, 0 deferred, 0 failed/);
  const [eml] = readdirSync(join(dir.path, "outbox"));
  expect(Bun.file(join(dir.path, "outbox", eml!)).size).toBeGreaterThan(100);
}, 300_000);
