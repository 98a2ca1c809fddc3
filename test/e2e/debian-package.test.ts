// The Debian package, installed as an operator installs it (`apt-get install ./mailer_*.deb`) into a
// throwaway copy of this machine: cron-style sendmail as root and as nobody queue mail, the worker
// started the way mailer.service starts it delivers both to a real SMTP sink, `apt-get remove` keeps the
// configuration and the queue, a purge removes them. lintian passes with no error.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";
import { inThrowawayRoot, throwawayRootAvailable } from "../helpers/throwaway-root.ts";

const ROOT = resolve(import.meta.dir, "../..");
const run = (throwawayRootAvailable() && existsSync("/usr/bin/dpkg-deb")) || process.env.CI ? test : test.skip;

let sink: Sink;
let deb: string;
beforeAll(async () => {
  sink = await startSink();
  const build = Bun.spawnSync([process.execPath, "scripts/package.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`npm run package failed:\n${build.stderr.toString()}`);
  deb = join(ROOT, "dist", readdirSync(join(ROOT, "dist")).find((n) => /^mailer_.*\.deb$/.test(n))!);
});
afterAll(async () => sink?.close());

const lintianRun = existsSync("/usr/bin/lintian") || process.env.CI ? test : test.skip;
lintianRun("lintian reports no error", () => {
  // lintian leaves a database file (mldbm-elf-*) in its temporary directory on each run: give it one
  // of its own, removed afterwards, rather than /tmp.
  const tmp = mkdtempSync(join(tmpdir(), "mailer-lintian-"));
  try {
    const lint = Bun.spawnSync(["lintian", "--fail-on", "error", deb], { stdout: "pipe", stderr: "pipe", env: { ...process.env, TMPDIR: tmp } });
    const out = lint.stdout.toString();
    expect({ code: lint.exitCode, errors: out.split("\n").filter((l) => l.startsWith("E:")) }).toEqual({ code: 0, errors: [] });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}, 120_000);

run("installs, queues from root and nobody, delivers as the unit runs it, and remove/purge keep or drop the data", async () => {
  const script = `set -u
export DEBIAN_FRONTEND=noninteractive
step() { echo "STEP $*"; }
apt-get install -y --no-install-recommends /tmp/mailer.deb >/tmp/apt.log 2>&1 && step installed || { cat /tmp/apt.log; exit 1; }
step sendmail $(readlink -f /usr/sbin/sendmail)
step modes $(stat -c '%a:%U:%G' /var/spool/mailer /var/lib/mailer /etc/mailer/mailer.toml)
step user $(getent passwd mailer | cut -d: -f6,7)
step conffile $(dpkg-query -W -f='\${Conffiles}' mailer | grep -c mailer.toml)
# Point the packaged config at the test's SMTP sink; root's mail goes to an alias.
sed -i 's/^host = "localhost".*/host = "127.0.0.1"/; s/^port = 25$/port = ${sink.port}/' /etc/mailer/mailer.toml
printf 'root: ops@example.com\\n' > /etc/aliases
printf 'From: root (Cron Daemon)\\nTo: root\\nSubject: Cron <root@host> backup\\n\\nbackup failed\\n' \\
  | env -i PATH=/usr/bin:/bin /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem root && step root-queued
printf 'To: user@example.com\\nSubject: from nobody\\n\\nhello\\n' \\
  | env -i PATH=/usr/bin:/bin setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/sbin/sendmail -t -i && step nobody-queued
# The worker as mailer.service starts it: its user, its environment, ExecStartPre, then ExecStart.
unit=/lib/systemd/system/mailer.service
as_unit="env -i MAILER_CONFIG=/etc/mailer/mailer.toml PATH=/usr/bin:/bin setpriv --reuid=mailer --regid=mailer --init-groups"
$as_unit $(sed -n 's/^ExecStartPre=//p' $unit) >/dev/null 2>&1 && step migrated
# A simple command in the background: $! is the worker itself (env and setpriv exec it), as systemd's MAINPID.
$as_unit $(sed -n 's/^ExecStart=//p' $unit) >/tmp/worker.log 2>&1 &
worker=$!
for i in $(seq 1 100); do
  # Both delivered, not merely out of the spool and the queue: a claimed message is in neither, and
  # a SIGTERM before its send starts gives it back unsent (the worker's log showed exactly that).
  sent=$($as_unit /usr/bin/mailer status --json | sed -n 's/.*"log":{"success":\\([0-9]*\\).*/\\1/p')
  [ "$sent" = "2" ] && break
  sleep 0.2
done
kill -TERM $worker; wait $worker; step worker-exit $?
sed 's/^/WORKER /' /tmp/worker.log
# As an operator removes it: apt also removes what cannot stay without an MTA (bsd-mailx, if this
# machine has it), where a bare dpkg -r would refuse.
apt-get remove -y mailer >/tmp/remove.log 2>&1 && step removed || { echo "remove failed:"; cat /tmp/remove.log /tmp/worker.log; }
[ -f /etc/mailer/mailer.toml ] && [ -f /var/lib/mailer/mailer.db ] && [ ! -e /usr/sbin/sendmail ] && step remove-kept-data
apt-get purge -y mailer >/tmp/purge.log 2>&1 && step purged || { echo "purge failed:"; cat /tmp/purge.log; }
[ ! -e /etc/mailer ] && [ ! -e /var/lib/mailer ] && [ ! -e /var/spool/mailer ] && step purge-removed-data
`;
  const { code, output } = await inThrowawayRoot(script, { "mailer.deb": deb });
  const steps = output.split("\n").filter((l) => l.startsWith("STEP ")).map((l) => l.slice(5));
  if (code !== 0) console.error(`--- the install script's output:\n${output}`);
  expect({ code, steps }).toEqual({
    code: 0,
    steps: [
      "installed",
      "sendmail /usr/bin/mailer",
      "modes 3733:mailer:mailer 750:mailer:mailer 644:root:root",
      "user /var/lib/mailer:/usr/sbin/nologin",
      "conffile 1",
      "root-queued",
      "nobody-queued",
      "migrated",
      "worker-exit 0",
      "removed",
      "remove-kept-data",
      "purged",
      "purge-removed-data",
    ],
  });
  const mails = sink.received.map((m) => [m.subject, m.to]).sort();
  if (mails.length !== 2) console.error(`--- the worker's log:\n${output.split("\n").filter((l) => l.startsWith("WORKER ")).join("\n")}`);
  expect(mails).toEqual([
    ["Cron <root@host> backup", ["ops@example.com"]],
    ["from nobody", ["user@example.com"]],
  ]);
  // Nothing leaked out of the throwaway root.
  expect(existsSync("/etc/mailer")).toBe(false);
}, 300_000);
