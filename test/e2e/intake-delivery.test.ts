// One message queued by every path (library, nodemailer transport, `mailer queue` flags and stdin,
// `mailer sendmail -t`, `mailer smtpd`) reaches a real SMTP sink identical in meaning: headers, body,
// attachments and envelope. Each stored row is sent by `mailer send-mail`, and also as stored (raw
// text + envelope) with nodemailer directly, which checks the stored rows independently of the engine.
import { afterEach, beforeEach, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer from "nodemailer";
import MailComposer from "nodemailer/lib/mail-composer";
import { openQueue, queueTransport } from "../../src/index.ts";
import { runMailer, writeConfig } from "../helpers/cli.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { addresses, deliver, parse, testQueue, type TestQueue } from "../helpers/intake.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";
import { startSmtpd } from "../helpers/smtpd-process.ts";

const CSV = "id,name\n1,Ünïcode\n";

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  let sink: Sink;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect);
    sink = await startSink();
  });
  afterEach(async () => {
    await sink?.close();
    await tq?.cleanup();
  });

  for (const via of ["nodemailer", "send-mail"] as const) it(`every enqueue path delivers the same headers, body, attachments and envelope (sent by ${via})`, async () => {
    const csv = join(tq.dir, "data.csv");
    writeFileSync(csv, CSV);
    const options = {
      from: "App <app@example.com>",
      to: "a@example.com",
      cc: "b@example.com",
      bcc: "secret@example.com",
      subject: "Report – ü",
      text: "See the attached data.",
      html: "<p>See the <b>attached</b> data.</p>",
      attachments: [{ filename: "data.csv", path: csv }],
    };
    // The piped message keeps its Bcc header, as a program handing a message to sendmail -t does.
    const node = new MailComposer({ ...options }).compile();
    node.keepBcc = true;
    const raw = await node.build();
    expect(raw.toString()).toContain("Bcc: secret@example.com");
    const envelopeOf = { from: "app@example.com", to: ["a@example.com", "b@example.com", "secret@example.com"] };

    const queue = await openQueue({ config: tq.config });
    await queue.enqueue(options);
    await nodemailer.createTransport(queueTransport(queue)).sendMail(options);
    await queue.close();
    const flags = await runMailer(["queue", "--config", tq.config, "--from", options.from, "--to", options.to, "--cc", options.cc,
      "--bcc", options.bcc, "--subject", options.subject, "--text", options.text, "--html", options.html, "--attach", csv]);
    expect(flags.code).toBe(0);
    expect((await runMailer(["queue", "--config", tq.config], { stdin: new Uint8Array(raw) })).code).toBe(0);
    expect((await runMailer(["sendmail", "-t", "-i"], { stdin: new Uint8Array(raw), env: { MAILER_CONFIG: tq.config } })).code).toBe(0);
    const smtpd = await startSmtpd(tq.config);
    const client = nodemailer.createTransport({ host: "127.0.0.1", port: smtpd.port, secure: false, ignoreTLS: true });
    await client.sendMail(options);
    client.close();
    expect(await smtpd.stop()).toBe(0);

    const rows = await tq.rows();
    expect(rows).toHaveLength(6);
    if (via === "nodemailer") {
      for (const row of rows) await deliver(row, sink);
    } else {
      const toml = `[database]\nurl = "${tq.url}"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n[lock]\npath = "${join(tq.dir, "send_mail")}"\n`;
      const sent = await runMailer(["send-mail", "--config", writeConfig(tq.dir, toml, "deliver.toml")]);
      expect([sent.code, sent.stdout]).toEqual([0, expect.stringMatching(/^6 sent, 0 deferred, 0 failed/)]);
    }
    const received = await sink.waitFor(6);
    for (const message of received) {
      expect({ from: message.from, to: [...message.to].sort() }).toEqual(envelopeOf);
      expect(message.raw.toString("latin1")).not.toMatch(/^Bcc:|secret@example\.com/im);
      const mail = await parse(message.raw);
      expect({
        from: addresses(mail.from as never),
        to: addresses(mail.to),
        cc: addresses(mail.cc),
        subject: mail.subject,
        text: mail.text?.trim(),
        html: mail.html && mail.html.trim(),
        attachments: mail.attachments.map((a) => [a.filename, a.contentType, a.content.toString("utf8")]),
        hasMessageId: /^<.+@.+>$/.test(mail.messageId ?? ""),
        hasDate: mail.date instanceof Date,
      }).toEqual({
        from: ["app@example.com"],
        to: ["a@example.com"],
        cc: ["b@example.com"],
        subject: options.subject,
        text: options.text,
        html: options.html,
        attachments: [["data.csv", "text/csv", CSV]],
        hasMessageId: true,
        hasDate: true,
      });
    }
  }, 60_000);
});
