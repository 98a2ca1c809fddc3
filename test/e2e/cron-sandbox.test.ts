// The cron sandbox itself: Debian's real cron daemon, in its private namespaces, runs the test's
// /etc/cron.d job at the next minute boundary and mails the output through the sandbox's
// /usr/sbin/sendmail (here a probe script that records argv, uid and stdin) with cron's own command
// line and headers, for a root job and for a job run as nobody. Nothing outside the sandbox changes.
import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { cronAvailable, startCron, type CronSandbox } from "../helpers/cron-sandbox.ts";
import { tempDir } from "../helpers/db.ts";
import { until } from "../helpers/wait.ts";

// A developer without cron (or not root) skips it; CI never does.
const run = cronAvailable() || process.env.CI ? test : test.skip;

const dir = tempDir("mailer-cron-probe-");
let cron: CronSandbox | undefined;
afterAll(async () => {
  await cron?.stop();
  dir.cleanup();
});

interface Mail {
  argv: string[];
  uid: number;
  message: string;
}

/** The probe's records, one file per sendmail run (renamed into place once complete). */
function mails(logs: string): Mail[] {
  return readdirSync(logs)
    .filter((f) => f.endsWith(".mail"))
    .map((f) => {
      const text = readFileSync(join(logs, f), "utf8");
      const split = text.indexOf("\n--\n");
      const head = text.slice(0, split).split("\n");
      return {
        argv: head.filter((l) => l.startsWith("arg: ")).map((l) => l.slice(5)),
        uid: Number(head.find((l) => l.startsWith("uid: "))?.slice(5)),
        message: text.slice(split + 4),
      };
    });
}

run("cron mails a job's output through the sandbox's /usr/sbin/sendmail with its own argv and headers", async () => {
  // Jobs run as nobody execute the probe and write its records: the path must be searchable, the log
  // directory writable by everyone.
  chmodSync(dir.path, 0o755);
  const logs = join(dir.path, "logs");
  mkdirSync(logs, { mode: 0o1777 });
  chmodSync(logs, 0o1777);
  const probe = join(dir.path, "sendmail");
  writeFileSync(
    probe,
    [
      "#!/bin/sh",
      `f=$(mktemp ${logs}/run.XXXXXX)`,
      `{ for a in "$@"; do printf 'arg: %s\\n' "$a"; done; echo "uid: $(id -u)"; echo "--"; cat; } > "$f"`,
      `mv "$f" "$f.mail"`,
      "",
    ].join("\n"),
  );
  chmodSync(probe, 0o755);
  const etcMailer = join(dir.path, "etc-mailer");
  mkdirSync(etcMailer, { mode: 0o755 });
  writeFileSync(join(etcMailer, "mailer.toml"), "# the sandbox's /etc/mailer\n");

  const sendmailBefore = existsSync("/usr/sbin/sendmail");
  cron = await startCron({
    sendmail: probe,
    etcMailer,
    cronTab:
      "SHELL=/bin/sh\n" +
      "* * * * * root echo 'backup failed: disk full'; cat /etc/mailer/mailer.toml\n" +
      "* * * * * nobody echo 'report from nobody'; id -u\n",
  });
  // The sandbox's mounts are its own: the host still has no (or its own) /usr/sbin/sendmail.
  expect(existsSync("/usr/sbin/sendmail")).toBe(sendmailBefore);

  // cron runs jobs at the top of the minute: up to 60 s, plus the jobs and their mail.
  const sandbox = cron;
  await until(() => mails(logs).length >= 2, "two mails from cron", 90_000).catch((e: Error) => {
    throw new Error(`${e.message}; cron's log:\n${sandbox.log()}`);
  });
  const all = mails(logs);
  const host = hostname().split(".")[0];

  const root = all.find((m) => m.message.includes("backup failed"));
  expect(root?.argv).toEqual(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"]);
  expect(root?.uid).toBe(0);
  const [rootHead = "", rootBody = ""] = root!.message.split("\n\n");
  expect(rootHead.split("\n").slice(0, 3)).toEqual([
    "From: root (Cron Daemon)",
    "To: root",
    `Subject: Cron <root@${host}> echo 'backup failed: disk full'; cat /etc/mailer/mailer.toml`,
  ]);
  expect(rootHead).toContain("X-Cron-Env: <LOGNAME=root>");
  expect(rootBody).toBe("backup failed: disk full\n# the sandbox's /etc/mailer\n");

  // A job run as nobody: cron starts sendmail as nobody too, and mails nobody (a bare login).
  const nobody = all.find((m) => m.message.includes("report from nobody"));
  expect(nobody?.argv).toEqual(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "nobody"]);
  expect(nobody?.uid).toBe(65534);
  const [nobodyHead = "", nobodyBody = ""] = nobody!.message.split("\n\n");
  expect(nobodyHead.split("\n").slice(0, 3)).toEqual([
    "From: root (Cron Daemon)",
    "To: nobody",
    `Subject: Cron <nobody@${host}> echo 'report from nobody'; id -u`,
  ]);
  expect(nobodyBody).toBe("report from nobody\n65534\n");

  // cron's syslog reaches log(); the only jobs it ran were the test's.
  const commands = cron.log().split("\n").filter((l) => / CMD \(/.test(l));
  expect(commands.some((l) => l.includes("(root) CMD (") && l.includes("backup failed"))).toBe(true);
  expect(commands.some((l) => l.includes("(nobody) CMD (") && l.includes("report from nobody"))).toBe(true);
  expect(commands.every((l) => l.includes("backup failed") || l.includes("report from nobody"))).toBe(true);

  const pid = cron.pid;
  await cron.stop();
  cron = undefined;
  expect(existsSync(`/proc/${pid}`)).toBe(false);
}, 100_000);
