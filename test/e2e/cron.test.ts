// Debian's cron daemon itself mails its jobs' output through /usr/sbin/sendmail = mailer, with its own
// command line, headers and bare environment, for a root job and a job run as nobody; send-mail, run
// as the mailer account, delivers both to a real SMTP sink.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { simpleParser } from "mailparser";
import { BINARY } from "../helpers/cli.ts";
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cronAvailable, startCron, type CronSandbox } from "../helpers/cron-sandbox.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";
import { systemHost, type SystemHost } from "../helpers/system-host.ts";
import { until } from "../helpers/wait.ts";

// Installed by .ci/run; a developer without cron (or not root) skips it, CI never does.
const run = cronAvailable() || process.env.CI ? test : test.skip;

let sink: Sink;
let host: SystemHost;
let cron: CronSandbox | null = null;
beforeAll(async () => {
  sink = await startSink();
});
afterAll(async () => {
  await cron?.stop();
  host?.cleanup();
  await sink.close();
});

const hostSendmail = () => (existsSync("/usr/sbin/sendmail") ? `${statSync("/usr/sbin/sendmail").ino}` : "none");

run("cron's job mail, for root and for nobody, reaches the alias and the qualified login", async () => {
  const sendmailBefore = hostSendmail();
  host = systemHost({
    toml: ({ root, spool }) =>
      `[database]\nurl = "sqlite:${root}/var/mailer.db"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n` +
      `[queue]\nspool = "${spool}"\naliases = "${root}/aliases"\ndefault_domain = "example.org"\n[lock]\npath = "${root}/var/send_mail"\n`,
  });
  expect((await host.mailer("mailer", ["migrate"])).code).toBe(0);
  // No MAILER_CONFIG anywhere: the sendmail cron runs finds /etc/mailer/mailer.toml, as on a host.
  const etcMailer = join(host.root, "etc-mailer");
  mkdirSync(etcMailer);
  chmodSync(etcMailer, 0o755);
  writeFileSync(join(etcMailer, "mailer.toml"), await Bun.file(host.config).text());
  cron = await startCron({
    sendmail: BINARY,
    etcMailer,
    cronTab: "SHELL=/bin/sh\n* * * * * root echo 'backup failed: disk full'\n* * * * * nobody echo 'report from nobody'\n",
  });
  // cron runs jobs at the top of the minute: up to a minute, plus the delivery.
  await until(async () => {
    await host.mailer("mailer", ["send-mail"]);
    return sink.received.length >= 2;
  }, "cron's two mails to be delivered", 90_000);
  const mails = await Promise.all(sink.received.map(async (m) => ({ to: m.to, from: m.from, parsed: await simpleParser(m.raw) })));
  const root = mails.find((m) => m.parsed.text?.includes("backup failed"))!;
  const nobody = mails.find((m) => m.parsed.text?.includes("report from nobody"))!;
  expect([root.from, root.to]).toEqual(["root@example.org", ["ops@example.com"]]);
  expect(root.parsed.from?.text).toBe('"Cron Daemon" <root@example.org>');
  expect(root.parsed.subject).toMatch(/^Cron <root@[^>]+> echo 'backup failed: disk full'$/);
  expect(String(root.parsed.headers.get("received"))).toContain("from userid 0 root");
  // cron writes "From: root (Cron Daemon)" for every job; the uid that handed it over is in the trace.
  expect([nobody.from, nobody.to]).toEqual(["root@example.org", ["nobody@example.org"]]);
  expect(String(nobody.parsed.headers.get("received"))).toContain("from userid 65534 nobody");
  // The host itself was never touched: its own /usr/sbin/sendmail (if any) is what it was.
  expect(hostSendmail()).toBe(sendmailBefore);
}, 120_000);
