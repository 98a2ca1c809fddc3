// A throwaway copy of this machine's root file system: an overlay of / in a private mount namespace,
// its writes kept in a tmpfs that vanishes with it, entered with chroot. Installing a package there
// (dpkg, postinst, users, /etc) changes nothing outside. The network is the machine's: loopback
// servers of the test are reachable from inside.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const throwawayRootAvailable = () => process.getuid?.() === 0 && existsSync("/usr/bin/unshare") && existsSync("/usr/sbin/chroot");

/** Runs `script` (sh) as root inside a fresh throwaway root; `files` are copied into its /tmp first. */
export async function inThrowawayRoot(script: string, files: Record<string, string> = {}, timeoutMs = 240_000): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), "mailer-root-"));
  try {
    writeFileSync(join(dir, "inside.sh"), script);
    const copies = Object.entries(files).map(([name, from]) => `cp ${JSON.stringify(from)} "$M/tmp/${name}"`).join("\n");
    const outer = `set -e
D=${JSON.stringify(dir)}
M="$D/merged"
mkdir -p "$D/rw" "$M"
mount -t tmpfs tmpfs "$D/rw"
mkdir "$D/rw/upper" "$D/rw/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$D/rw/upper,workdir=$D/rw/work" "$M"
mount --rbind /dev "$M/dev"
mount -t proc proc "$M/proc"
mount --rbind /sys "$M/sys"
# A fresh /run: no systemd here, so maintainer scripts do not try to start services.
mount -t tmpfs tmpfs "$M/run"
mount -t tmpfs tmpfs "$M/tmp"
# What chroots do: no service started by any package's scripts.
printf '#!/bin/sh\\nexit 101\\n' > "$M/usr/sbin/policy-rc.d"
chmod 755 "$M/usr/sbin/policy-rc.d"
cp "$D/inside.sh" "$M/tmp/inside.sh"
${copies}
exec chroot "$M" /bin/sh /tmp/inside.sh
`;
    const proc = Bun.spawn(["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "sh", "-c", outer], {
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" },
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    return { code, output: stdout + stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
