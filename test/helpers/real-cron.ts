// The real cron daemon (Debian's, which mails a job's output with its compiled-in
// `/usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem <MAILTO>`), run in a private mount namespace in
// which /usr/sbin/sendmail is our binary, /etc/mailer holds the test's config, and the crontabs are
// only the test's. Nothing outside the namespace changes: the overlays and binds vanish with it.
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./db.ts";

export const cronAvailable = () => process.getuid?.() === 0 && existsSync("/usr/sbin/cron") && existsSync("/usr/bin/unshare");

export interface RealCron {
  stop(): Promise<void>;
}

export function startCron(options: { sendmail: string; etcMailer: Record<string, string>; cronD: string }): RealCron {
  const dir = tempDir("mailer-cron-");
  const sbin = join(dir.path, "sbin");
  const etc = join(dir.path, "etc");
  const cronD = join(dir.path, "cron.d");
  mkdirSync(sbin);
  symlinkSync(options.sendmail, join(sbin, "sendmail"));
  mkdirSync(join(etc, "mailer"), { recursive: true });
  for (const [name, text] of Object.entries(options.etcMailer)) writeFileSync(join(etc, "mailer", name), text);
  chmodSync(join(etc, "mailer"), 0o755);
  mkdirSync(cronD);
  // cron reads only root-owned files that no one else may write, with no dot in their name.
  writeFileSync(join(cronD, "mailertest"), options.cronD);
  chmodSync(join(cronD, "mailertest"), 0o644);
  writeFileSync(join(dir.path, "crontab"), "");
  const script = [
    "set -e",
    `mount -t overlay overlay -o lowerdir=${sbin}:/usr/sbin /usr/sbin`,
    `mount -t overlay overlay -o lowerdir=${etc}:/etc /etc`,
    `mount --bind ${cronD} /etc/cron.d`,
    `mount --bind ${join(dir.path, "crontab")} /etc/crontab`,
    "mount -t tmpfs tmpfs /var/spool/cron",
    "mkdir -p /var/spool/cron/crontabs",
    "mount -t tmpfs tmpfs /run",
    "exec cron -f",
  ].join("\n");
  const proc = Bun.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], { stdout: "ignore", stderr: "pipe" });
  return {
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      dir.cleanup();
    },
  };
}
