// The real cron daemon (Debian's cron, which mails a job's output with its compiled-in
// `/usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem <MAILTO>`), run in private mount and PID
// namespaces in which
//   /usr/sbin/sendmail          is a link to the test's executable,
//   /etc/mailer                 is the test's directory (bind mount: live, a real directory),
//   /etc/cron.d, /etc/crontab   hold only the test's job, /var/spool/cron is empty,
//   /run                        is a private copy (cron's /var/run/crond.pid cannot clash with a host cron),
//   /dev/log                    is a socket this helper reads, so cron's syslog lines reach log().
// /usr/sbin, /etc, /run and /dev are overlays: the real directory below, the test's entries on top and
// a private writable layer on a tmpfs, so a write in the sandbox never reaches the real one. Mounts
// below a covered directory (/dev/pts, /dev/shm, a container's /etc/hosts …) are bound back on top.
// Every mount exists only in the namespace and vanishes with it; nothing outside changes.
//
// Process chain: Bun → setpriv --pdeathsig KILL → unshare --mount → sh (mounts) → exec unshare --pid
// --fork --kill-child → cron -f (PID 1 of its namespace). If the test process dies, the kernel kills
// unshare, which kills cron, which takes every job and sendmail in its PID namespace with it.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./db.ts";
import { readLines } from "./lines.ts";

const TOOLS = ["/usr/sbin/cron", "/usr/bin/unshare", "/usr/bin/setpriv"];

/** What systemd hands cron.service on Debian; cron itself resets PATH to /usr/bin:/bin. */
export const CRON_DAEMON_ENV: Record<string, string> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
};

export interface CronSandbox {
  /** cron's PID as seen from the test (outside its PID namespace). */
  readonly pid: number;
  /** Kills cron and everything in its namespace; resolves once all of it has exited and the temp dir is gone. */
  stop(): Promise<void>;
  /** cron's syslog lines (`Mmm dd hh:mm:ss cron[pid]: (user) CMD (…)`) and any stderr of the sandbox, so far. */
  log(): string;
}

export interface CronOptions {
  /** The executable /usr/sbin/sendmail links to. Jobs run as other users need search permission on its path. */
  sendmail: string;
  /** A directory shown as /etc/mailer. */
  etcMailer: string;
  /** Content of /etc/cron.d/mailer-test (system crontab format: `m h dom mon dow user command`). */
  cronTab: string;
  /** Content of /etc/crontab; empty by default, so the host's hourly/daily jobs are not there. */
  etcCrontab?: string;
  /**
   * cron's own environment. The sendmail cron starts inherits it (not the job's: no MAILTO, HOME or
   * LOGNAME from the crontab), with PATH reset by cron to /usr/bin:/bin. Default CRON_DAEMON_ENV.
   */
  env?: Record<string, string>;
  /** How long to wait for cron to load its tables (its "Running @reboot jobs" line). Default 15 s. */
  startTimeoutMs?: number;
}

let available: boolean | undefined;

/** cron, unshare and setpriv exist, we are root, and mount + PID namespaces with overlays work here. */
export function cronAvailable(): boolean {
  if (available !== undefined) return available;
  available = false;
  if (process.getuid?.() !== 0 || !TOOLS.every((t) => existsSync(t))) return available;
  // The same kinds of mounts startCron makes, on a tmpfs only this throwaway namespace sees.
  const probe = Bun.spawnSync(
    [
      "unshare", "--mount", "--propagation", "private", "--pid", "--fork", "sh", "-ec",
      "mount -t tmpfs tmpfs /mnt; mkdir /mnt/a /mnt/b /mnt/u /mnt/w /mnt/o; " +
        "mount -t overlay overlay -o lowerdir=/mnt/a:/mnt/b,upperdir=/mnt/u,workdir=/mnt/w /mnt/o",
    ],
    { stdout: "ignore", stderr: "ignore", env: CRON_DAEMON_ENV },
  );
  available = probe.exitCode === 0;
  return available;
}

// Runs as root in the new mount namespace; $1 = sandbox dir, $2 = the directory for /etc/mailer.
const MOUNT_SCRIPT = `
set -eu
D=$1
ETC_MAILER=$2
NS=$D/ns
# Private scratch space: overlay upper/work dirs and the stash of covered mount trees. The host sees
# $NS as an empty directory.
mount -t tmpfs -o mode=0755 sandbox "$NS"

# Mount points strictly below $1, parents first (mountinfo field 5; no spaces in them here).
below() { awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -u; }

# cover DIR EXTRA: DIR becomes an overlay of EXTRA's entries over DIR's own, writable into a private
# layer; the mounts that were below DIR are bound back onto the same places.
cover() {
  dir=$1 extra=$2 name=$(echo "$1" | tr / _)
  subs=$(below "$dir")
  mkdir -p "$NS/stash$name" "$NS/upper$name" "$NS/work$name"
  [ -z "$subs" ] || mount --rbind "$dir" "$NS/stash$name"
  mount -t overlay overlay -o "lowerdir=$extra:$dir,upperdir=$NS/upper$name,workdir=$NS/work$name" "$dir"
  for m in $subs; do
    mount --bind "$NS/stash$name\${m#"$dir"}" "$m"
  done
}

cover /usr/sbin "$D/sbin"
cover /etc "$D/etc"
mount --bind "$ETC_MAILER" /etc/mailer
mount --bind "$D/cron.d" /etc/cron.d
mount --bind "$D/crontab" /etc/crontab
mount -t tmpfs -o mode=0755 spool /var/spool/cron
mkdir -m 1730 /var/spool/cron/crontabs
chgrp crontab /var/spool/cron/crontabs 2>/dev/null || true
cover /run "$D/empty"
rm -f /run/crond.pid /run/crond.reboot
cover /dev "$D/dev"

# cron becomes PID 1 of a new PID namespace (its own /proc): killing it kills every job and sendmail.
exec unshare --pid --fork --kill-child --mount-proc cron -f -L 15
`;

/** Starts cron in its sandbox; resolves once cron has read its tables. Jobs fire at minute boundaries. */
export async function startCron(options: CronOptions): Promise<CronSandbox> {
  const dir = tempDir("mailer-cron-sandbox-");
  const D = dir.path;
  // Jobs run as other users reach /dev/log (→ D/log.sock) through here.
  chmodSync(D, 0o755);
  for (const sub of ["ns", "sbin", "etc", "etc/mailer", "etc/cron.d", "cron.d", "empty", "dev"]) mkdirSync(join(D, sub));
  writeFileSync(join(D, "etc", "crontab"), "");
  symlinkSync(options.sendmail, join(D, "sbin", "sendmail"));
  // cron reads only regular, root-owned files no one else may write, whose names have no dot, and
  // ignores a last line without its newline.
  const cronTab = options.cronTab.endsWith("\n") ? options.cronTab : `${options.cronTab}\n`;
  writeFileSync(join(D, "cron.d", "mailer-test"), cronTab, { mode: 0o644 });
  chmodSync(join(D, "cron.d", "mailer-test"), 0o644);
  writeFileSync(join(D, "crontab"), options.etcCrontab ?? "", { mode: 0o644 });

  const lines: string[] = [];
  const push = (line: string) => lines.push(line);

  // glibc's syslog() connects to /dev/log as a datagram socket and, refused with EPROTOTYPE, as a
  // stream socket, where each message ends with a NUL.
  const sock = join(D, "log.sock");
  const partial = new Map<object, string>();
  const syslog = Bun.listen<object>({
    unix: sock,
    socket: {
      open(s) {
        s.data = {};
      },
      data(s, chunk) {
        const text = (partial.get(s.data) ?? "") + new TextDecoder().decode(chunk);
        const parts = text.split("\0");
        partial.set(s.data, parts.pop() ?? "");
        for (const p of parts) if (p.trim()) push(p.replace(/^<\d+>/, "").trimEnd());
      },
      close(s) {
        const rest = partial.get(s.data);
        if (rest?.trim()) push(rest.replace(/^<\d+>/, "").trimEnd());
        partial.delete(s.data);
      },
    },
  });
  chmodSync(sock, 0o666);
  symlinkSync(sock, join(D, "dev", "log"));

  const proc = Bun.spawn(
    ["setpriv", "--pdeathsig", "KILL", "unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_SCRIPT, "sh", D, options.etcMailer],
    { env: options.env ?? CRON_DAEMON_ENV, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  let exitCode: number | undefined;
  const exited = proc.exited.then((code) => {
    exitCode = code;
  });
  const stdout = readLines(proc.stdout);
  const stderr = readLines(proc.stderr);
  const pumped = Promise.all([stdout.done, stderr.done]);

  let stopped: Promise<void> | undefined;
  let cronPid = 0;
  const stop = () =>
    (stopped ??= (async () => {
      // SIGKILL to cron, PID 1 of its namespace, kills everything in it; unshare reaps cron only once
      // all of them are gone. Without cron's PID (still mounting), kill the chain at its head.
      try {
        if (cronPid && exitCode === undefined) process.kill(cronPid, "SIGKILL");
        else proc.kill("SIGKILL");
      } catch {
        // already gone
      }
      await exited;
      // unshare --kill-child: had unshare died first, cron still gets SIGKILL; wait for that too.
      while (cronPid && isAlive(cronPid)) await Bun.sleep(20);
      await pumped;
      syslog.stop(true);
      dir.cleanup();
    })());
  const log = () => [...lines, ...stdout.lines.map((l) => `[stdout] ${l}`), ...stderr.lines.map((l) => `[stderr] ${l}`)].join("\n");

  // After reading /etc/crontab, /etc/cron.d and the spool, cron logs "(CRON) INFO (Running @reboot
  // jobs)" (or "Skipping …" when /run/crond.reboot exists, which the private /run never has).
  const ready = /\(CRON\) INFO \((Running|Skipping) @reboot jobs/;
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  while (!lines.some((l) => ready.test(l))) {
    const problem = exitCode !== undefined ? `exited (${exitCode})` : Date.now() > deadline ? "did not report loading its tables" : "";
    if (problem) {
      await stop();
      throw new Error(`cron in its sandbox ${problem}:\n${log()}`);
    }
    await Bun.sleep(20);
  }
  cronPid = childOf(proc.pid);
  if (!cronPid) {
    await stop();
    throw new Error(`cron's process not found under ${proc.pid}:\n${log()}`);
  }
  return { pid: cronPid, stop, log };
}

/** The (single) child of `pid`: /proc/pid/task/pid/children where the kernel has it, else a scan of /proc. */
function childOf(pid: number): number {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    if (children.length) return Number(children[0]);
  } catch {
    // CONFIG_PROC_CHILDREN off: scan.
  }
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) return Number(entry);
    } catch {
      // exited meanwhile
    }
  }
  return 0;
}

/** Running (a zombie awaiting its reaper counts as gone). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
