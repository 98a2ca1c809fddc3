// `sendmail -bs`: an SMTP dialogue on standard input and output, Symfony Mailer's and Laravel's default
// sendmail command. Driven by a piped dialogue, by swaks (--pipe), and by Symfony Mailer itself.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, runMailer } from "../helpers/cli.ts";
import { tempDir } from "../helpers/db.ts";
import { testIf } from "../helpers/dialects.ts";
import { parse, testQueue, type TestQueue } from "../helpers/intake.ts";

const SYMFONY_AUTOLOAD = "/usr/share/php/Symfony/Component/Mailer/autoload.php";
/** The real clients, when the machine has them (`.ci/run` installs them; CI must not skip). */
const has = (path: string) => existsSync(path) || Boolean(process.env.CI);

describe("sendmail -bs", () => {
  let tq: TestQueue;
  beforeEach(async () => {
    tq = await testQueue("sqlite", `[queue]\ndefault_domain = "example.org"\naliases = ""\n`);
  });
  afterEach(async () => tq.cleanup());
  const bs = (stdin: string) => runMailer(["sendmail", "-bs"], { stdin, env: { MAILER_CONFIG: tq.config } });

  test("a whole dialogue piped in at once is answered line by line and queues each message", async () => {
    const dialogue = [
      "EHLO app.local",
      "MAIL FROM:<shop@example.com>",
      "RCPT TO:<customer@example.com>",
      "RCPT TO:<postmaster>", // the one bare name RFC 5321 allows: routed like every local name
      "DATA",
      "From: Shop <shop@example.com>",
      "To: customer@example.com",
      "Subject: Order 42",
      "",
      "..a line that began with a dot",
      ".",
      "MAIL FROM:<>",
      "RCPT TO:<second@example.com>",
      "DATA",
      "From: shop@example.com",
      "Subject: two",
      "",
      "second",
      ".",
      "QUIT",
      "",
    ].join("\r\n");
    const result = await bs(dialogue);
    expect(result.code).toBe(0);
    const codes = result.stdout.trim().split("\r\n").map((l) => l.slice(0, 4));
    expect(codes[0]).toBe("220 ");
    expect(codes.filter((c) => c === "250 ")).toHaveLength(1 + 4 + 3); // EHLO's last line; MAIL, RCPT, RCPT, end of DATA; MAIL, RCPT, end of DATA
    expect(codes.at(-1)).toBe("221 ");
    expect(result.stderr).toBe("");
    const rows = await tq.rows();
    expect(rows.map((r) => [r.envelopeFrom, r.envelopeTo])).toEqual([
      ["shop@example.com", ["customer@example.com", "postmaster@example.org"]],
      ["", ["second@example.com"]],
    ]);
    const first = await parse(rows[0]!.raw);
    expect(first.text).toBe(".a line that began with a dot\n");
    expect(String(first.headers.get("received"))).toMatch(/^from app\.local by .* \(mailer, from userid \d+ \w+\) with ESMTP; /);
  });

  test("input that ends without QUIT still has its complete messages queued; a message cut short is not", async () => {
    const done = await bs("HELO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\n");
    expect(done.code).toBe(0);
    const cut = await bs("HELO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nSubject: s\r\n\r\nhalf of it");
    expect(cut.code).toBe(0);
    expect((await tq.rows()).map((r) => r.envelopeTo)).toEqual([["b@example.com"]]);
  });

  test("a bad recipient is refused with 553 and the session goes on", async () => {
    const result = await bs("EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<not an address>\r\nRCPT TO:<ok@example.com>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\nQUIT\r\n");
    expect(result.stdout).toMatch(/\r\n5\d\d [^\r]*\r\n/);
    expect((await tq.rows()).map((r) => r.envelopeTo)).toEqual([["ok@example.com"]]);
  });

  testIf(has("/usr/bin/swaks"), "swaks is not installed")("swaks --pipe speaks to it as to any SMTP server", async () => {
    const proc = Bun.spawn(
      ["swaks", "--pipe", `${BINARY} sendmail --config ${tq.config} -bs`, "--from", "swaks@example.com", "--to", "ops@example.com",
        "--header", "Subject: from swaks", "--body", "hello from swaks"],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    expect(out).toContain("<-  250 2.0.0 OK: queued as");
    const [row] = await tq.rows();
    expect([row!.envelopeFrom, row!.envelopeTo, (await parse(row!.raw)).subject]).toEqual(["swaks@example.com", ["ops@example.com"], "from swaks"]);
  });

  testIf(has(SYMFONY_AUTOLOAD), "php-symfony-mailer is not installed")("Symfony Mailer's SendmailTransport (-bs) sends through it", async () => {
    const dir = tempDir();
    try {
      const script = join(dir.path, "send.php");
      writeFileSync(
        script,
        `<?php
require '${SYMFONY_AUTOLOAD}';
use Symfony\\Component\\Mailer\\Mailer;
use Symfony\\Component\\Mailer\\Transport\\SendmailTransport;
use Symfony\\Component\\Mime\\Email;
$mailer = new Mailer(new SendmailTransport($argv[1]));
$mailer->send((new Email())->from('Shop <shop@example.com>')->to('customer@example.com')->bcc('audit@example.com')
  ->subject('Your order')->text('Thanks for your order.'));
echo "sent\\n";
`,
      );
      const link = join(dir.path, "sendmail");
      symlinkSync(BINARY, link);
      const proc = Bun.spawn(["php", script, `${link} -C ${tq.config} -bs`], { stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      expect([code, out, err]).toEqual([0, "sent\n", ""]);
      const [row] = await tq.rows();
      expect(row!.envelopeFrom).toBe("shop@example.com");
      expect(row!.envelopeTo.sort()).toEqual(["audit@example.com", "customer@example.com"]);
      expect(row!.raw.toString()).not.toContain("audit@example.com");
      expect((await parse(row!.raw)).subject).toBe("Your order");
    } finally {
      dir.cleanup();
    }
  });
});
