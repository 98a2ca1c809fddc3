// mailer as a host's system mailer, driven as the host drives it: cron's own command line, PHP's
// `sendmail -t -i` as www-data, `sendmail root` as nobody, the mailq and newaliases links, each
// message delivered by send-mail (run as the mailer account) to a real SMTP sink.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";
import { ACCOUNTS, canSwitchUsers, systemHost, type SystemHost } from "../helpers/system-host.ts";

const describeAsRoot = canSwitchUsers || process.env.CI ? describe : describe.skip;

/** The message Debian's cron pipes into `/usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem root`. */
const CRON_MESSAGE =
  "From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host> /usr/local/bin/backup\n" +
  "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n" +
  "X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\nX-Cron-Env: <PATH=/usr/bin:/bin>\nX-Cron-Env: <LOGNAME=root>\n\n" +
  "backup failed: disk full\n";

const PHP_MESSAGE = "To: customer@example.com\nSubject: Your order\nX-PHP-Originating-Script: 33:shop.php\n\nThanks!\n";

describeAsRoot("the system mailer", () => {
  let sink: Sink;
  let host: SystemHost;
  beforeAll(async () => {
    sink = await startSink();
  });
  afterAll(async () => sink.close());
  beforeEach(() => {
    sink.received.length = 0;
    host = systemHost({
      toml: ({ root, spool }) =>
        `[database]\nurl = "sqlite:${root}/var/mailer.db"\n` +
        `[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\nuser = ""\npassword_env = "SMTP_PASSWORD"\n` +
        `[queue]\nspool = "${spool}"\naliases = "${root}/aliases"\ndefault_domain = "example.org"\n` +
        `[lock]\npath = "${root}/var/send_mail"\n`,
    });
  });
  afterEach(() => host.cleanup());

  const sendMail = () => host.mailer("mailer", ["send-mail"], { env: { SMTP_PASSWORD: "not used by the sink" } });

  test("cron's own command line, as nobody with no $USER: queued through the spool, delivered to root's alias", async () => {
    expect((await host.mailer("mailer", ["migrate"])).code).toBe(0);
    const cron = await host.run("nobody", [host.bin.sendmail, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"], {
      stdin: CRON_MESSAGE,
      env: { MAILER_CONFIG: host.config },
    });
    expect(cron).toEqual({ code: 0, stdout: "", stderr: "" });
    const sent = await sendMail();
    expect([sent.code, sent.stdout]).toEqual([0, expect.stringMatching(/^1 sent, 0 deferred, 0 failed/)]);
    const [mail] = sink.received;
    expect(mail!.to).toEqual(["ops@example.com"]);
    expect(mail!.from).toBe("root@example.org");
    const parsed = await simpleParser(mail!.raw);
    expect(parsed.from?.text).toBe('"Cron Daemon" <root@example.org>');
    expect((parsed.to as { text: string }).text).toBe("root@example.org");
    expect(String(parsed.headers.get("received"))).toContain(`from userid ${ACCOUNTS.nobody.uid} nobody`);
    expect(parsed.text).toBe("backup failed: disk full\n");
  });

  test("`sendmail root` with no From: the sender is the submitting login, from its uid", async () => {
    expect((await host.mailer("mailer", ["migrate"])).code).toBe(0);
    const result = await host.run("www", [host.bin.sendmail, "root"], { stdin: "Subject: hello\n\nfrom www-data\n", env: { MAILER_CONFIG: host.config } });
    expect(result.code).toBe(0);
    expect((await sendMail()).code).toBe(0);
    expect(sink.received.map((m) => [m.from, m.to])).toEqual([["www-data@example.org", ["ops@example.com"]]]);
  });

  test("PHP's sendmail -t -i (its command line, as www-data) succeeds; nobody can neither see that mail nor open the queue", async () => {
    expect((await host.mailer("mailer", ["migrate"])).code).toBe(0);
    const php = await host.run("www", [host.bin.sendmail, "-C", host.config, "-t", "-i"], { stdin: PHP_MESSAGE });
    expect(php).toEqual({ code: 0, stdout: "", stderr: "" });
    const [file] = readdirSync(host.spool);
    expect(file).toMatch(/\.msg$/);

    // Another local user can neither list the spool, nor read the file by its name, nor open the queue.
    expect((await host.run("nobody", ["ls", host.spool])).code).not.toBe(0);
    const read = await host.run("nobody", ["cat", join(host.spool, file!)]);
    expect([read.code === 0, read.stderr]).toEqual([false, expect.stringContaining("Permission denied")]);
    for (const args of [["list", "--all"], ["show", "1"], ["status"]]) {
      const denied = await host.mailer("nobody", args);
      expect(denied.code).toBe(77); // EX_NOPERM: retrying would not help
      expect(denied.stdout).toBe("");
      expect(denied.stderr).toMatch(/^mailer: permission denied: this user \(uid 65534\) may not open the queue database /);
    }
    const mailq = await host.run("nobody", [host.bin.mailq], { env: { MAILER_CONFIG: host.config } });
    expect(mailq.code).toBe(77);
    expect(mailq.stdout).not.toContain("customer@example.com");

    expect((await sendMail()).code).toBe(0);
    const [mail] = sink.received;
    expect([mail!.from, mail!.to]).toEqual(["www-data@example.org", ["customer@example.com"]]);
    expect(mail!.raw.toString()).toContain("X-PHP-Originating-Script: 33:shop.php");
    expect(readdirSync(host.spool)).toEqual([]);
    // Imported: the text is in the database now, which nobody still cannot open.
    expect((await host.mailer("nobody", ["show", "1"])).code).not.toBe(0);
  });

  // PHP itself, not a stand-in: mail() runs sendmail_path through /bin/sh as the web server's user.
  const phpTest = existsSync("/usr/bin/php") || process.env.CI ? test : test.skip;
  phpTest("PHP's mail() as www-data: true, and the message reaches root's alias", async () => {
    expect((await host.mailer("mailer", ["migrate"])).code).toBe(0);
    const php = await host.run("www", [
      "php", "-d", `sendmail_path=${host.bin.sendmail} -C ${host.config} -t -i`, "-r",
      'var_dump(mail("root", "Order 42", "Thanks for your order.", "From: Shop <shop@example.com>"));',
    ]);
    expect([php.code, php.stdout.trim(), php.stderr]).toEqual([0, "bool(true)", ""]);
    expect((await sendMail()).code).toBe(0);
    const [mail] = sink.received;
    expect([mail!.from, mail!.to]).toEqual(["shop@example.com", ["ops@example.com"]]);
    const parsed = await simpleParser(mail!.raw);
    expect([parsed.subject, (parsed.to as { text: string }).text, parsed.text?.trim()]).toEqual(["Order 42", "root@example.org", "Thanks for your order."]);
    expect(String(parsed.headers.get("received"))).toContain(`from userid ${ACCOUNTS.www.uid} www-data`);
  });

  test("mailq and newaliases links act like Postfix's", async () => {
    expect((await host.mailer("mailer", ["migrate"])).code).toBe(0);
    const env = { MAILER_CONFIG: host.config };
    expect((await host.run("mailer", [host.bin.mailq], { env })).stdout).toBe("Mail queue is empty\n");
    await host.run("nobody", [host.bin.sendmail, "root"], { stdin: "Subject: x\n\ny\n", env });
    const waiting = await host.run("mailer", [host.bin.mailq], { env });
    expect(waiting.stdout).toBe("Mail queue is empty\n-- 1 message in the spool, not yet imported\n");
    const status = await host.mailer("mailer", ["status", "--json"]);
    expect(JSON.parse(status.stdout).spool).toEqual({ waiting: 1, set_aside: 0 });
    expect((await host.mailer("mailer", ["status"])).stdout).toMatch(/^spool\s+1 waiting$/m);
    // Import without delivering: the sink refuses for now, so the message is deferred with a reason.
    sink.onMessage = () => ({ code: 451, message: "4.3.0 try later" });
    expect((await sendMail()).code).toBe(0);
    sink.onMessage = () => undefined;
    const listed = await host.run("mailer", [host.bin.mailq], { env });
    expect(listed.code).toBe(0);
    const lines = listed.stdout.split("\n");
    expect(lines[0]).toBe("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------");
    expect(lines[1]).toMatch(/^1 {10} +\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d  nobody@example\.org$/);
    expect(lines[2]).toMatch(/^\(.*451.*\)$/);
    expect(lines[3]).toBe(" ".repeat(41) + "ops@example.com");
    expect(listed.stdout).toEndWith("\n-- 1 Kbytes in 1 Request.\n");
    // `sendmail -bp` is the same listing.
    expect((await host.run("mailer", [host.bin.sendmail, "-bp"], { env })).stdout).toBe(listed.stdout);

    const check = await host.run("mailer", [host.bin.newaliases], { env });
    expect(check).toEqual({ code: 0, stdout: `${host.root}/aliases: 2 aliases\n`, stderr: "" });
    const bi = await host.run("root", [host.bin.sendmail, "-bi"], { env });
    expect(bi.stdout).toBe(check.stdout);
  });
});
