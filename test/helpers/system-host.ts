// A host laid out as docs/deployment.md says, in a temporary directory: the queue database and lock
// owned by the mailer account, a spool directory everyone may drop into (mode 3733), an aliases file,
// links named sendmail, mailq and newaliases. The mailer account is `daemon` (an account every Debian
// system has), so no test creates users; submitters are `nobody` and `www-data`, run through setpriv.
import { chmodSync, chownSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cleanEnv, type RunResult } from "./cli.ts";
import { tempDir } from "./db.ts";

export const ACCOUNTS = {
  mailer: { user: "daemon", uid: 1, gid: 1 },
  nobody: { user: "nobody", uid: 65534, gid: 65534 },
  www: { user: "www-data", uid: 33, gid: 33 },
} as const;
export type Account = keyof typeof ACCOUNTS | "root";

/** Only root can switch users; a developer running the suite as themselves skips these tests. */
export const canSwitchUsers = process.getuid?.() === 0;

export interface SystemHost {
  root: string;
  config: string;
  spool: string;
  /** Links to the binary named as Postfix names its programs. */
  bin: { sendmail: string; mailq: string; newaliases: string };
  /** Run `argv` (argv[0] a program) as `account`, with cron's bare environment plus `env`. */
  run(account: Account, argv: string[], options?: { stdin?: string | Uint8Array; env?: Record<string, string> }): Promise<RunResult>;
  /** `mailer …` as `account`. */
  mailer(account: Account, args: string[], options?: { stdin?: string; env?: Record<string, string> }): Promise<RunResult>;
  cleanup(): void;
}

export function systemHost(options: { toml: (h: { root: string; spool: string }) => string; aliases?: string }): SystemHost {
  const dir = tempDir("mailer-host-");
  const root = dir.path;
  chmodSync(root, 0o755);
  const { uid, gid } = ACCOUNTS.mailer;
  const owned = (path: string, mode: number) => {
    mkdirSync(path);
    chownSync(path, uid, gid);
    chmodSync(path, mode);
  };
  owned(join(root, "var"), 0o750);
  const spool = join(root, "spool");
  // Everyone may create files, nobody but the owner may list; setgid: files get the mailer group;
  // sticky: only a file's owner (or the directory's) may remove or rename it.
  owned(spool, 0o3733);
  writeFileSync(join(root, "aliases"), options.aliases ?? "postmaster: root\nroot: ops@example.com\n");
  chmodSync(join(root, "aliases"), 0o644);
  const config = join(root, "mailer.toml");
  writeFileSync(config, options.toml({ root, spool }));
  chmodSync(config, 0o644);
  mkdirSync(join(root, "bin"));
  chmodSync(join(root, "bin"), 0o755);
  const bin = { sendmail: join(root, "bin", "sendmail"), mailq: join(root, "bin", "mailq"), newaliases: join(root, "bin", "newaliases") };
  for (const link of Object.values(bin)) symlinkSync(BINARY, link);

  const run: SystemHost["run"] = async (account, argv, opts = {}) => {
    const as =
      account === "root"
        ? []
        : ["setpriv", `--reuid=${ACCOUNTS[account].uid}`, `--regid=${ACCOUNTS[account].gid}`,
          ...(account === "mailer" ? ["--init-groups"] : ["--clear-groups"])];
    // cron's environment: no USER, LOGNAME or MAILER_* (cleanEnv drops MAILER_*), PATH=/usr/bin:/bin.
    const env = cleanEnv({ USER: undefined, LOGNAME: undefined, HOME: "/", PATH: "/usr/bin:/bin", ...opts.env });
    const proc = Bun.spawn([...as, ...argv], {
      cwd: "/",
      env,
      stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin as Uint8Array]),
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    return { code, stdout, stderr };
  };
  return {
    root,
    config,
    spool,
    bin,
    run,
    mailer: (account, args, opts) => run(account, [BINARY, ...args], { ...opts, env: { MAILER_CONFIG: config, ...opts?.env } }),
    cleanup: () => dir.cleanup(),
  };
}
