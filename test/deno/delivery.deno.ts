// The delivery half of the Deno smoke suite: `queue` then `send-mail` to a real SMTP sink over TCP.
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSink } from "../helpers/smtp-sink.ts";
import { assert, assertEqual, mailer, step } from "./harness.deno.ts";

export async function deliverySteps(dialect: string, dir: string, url: string, needsPg: () => void): Promise<void> {
  const sink = await startSink();
  try {
    const config = join(dir, "delivery.toml");
    writeFileSync(
      config,
      `[database]\nurl = ${JSON.stringify(url)}\n[lock]\npath = ${JSON.stringify(join(dir, "send_mail"))}\n` +
        `[backend]\ntype = "smtp"\nhost = "127.0.0.1"\nport = ${sink.port}\n`,
    );
    let queued = false;
    await step(`${dialect}: queue a message from flags`, async () => {
      needsPg();
      const run = await mailer(
        ["queue", "--config", config, "--from", "app@example.com", "--to", "ops@example.com", "--subject", "deno smoke", "--text", "hello from deno"],
        { cwd: dir },
      );
      assertEqual(run.code, 0, `exit code (stderr: ${run.stderr})`);
      assert(/^\d+\s*$/.test(run.stdout), `queue id on stdout: ${JSON.stringify(run.stdout)}`);
      queued = true;
    });

    await step(`${dialect}: send-mail delivers the queue to the SMTP sink`, async () => {
      needsPg();
      const run = await mailer(["send-mail", "--config", config], { cwd: dir });
      assertEqual(run.code, 0, `exit code (stderr: ${run.stderr})`);
      assert(/\b\d+ sent\b/.test(run.stdout), `summary line: ${JSON.stringify(run.stdout)}`);
      assert(queued, "the message was queued (the step before)");
      await sink.waitFor(1, 5_000);
      assert(sink.received.some((m) => m.subject === "deno smoke"), "the sink received the queued message");
      const status = JSON.parse((await mailer(["status", "--json", "--config", config], { cwd: dir })).stdout);
      assertEqual(status.queued, 0, "queued after the pass");
      assert(status.log.success >= 1, `log.success after the pass: ${status.log.success}`);
    });

    await step(`${dialect}: sendmail root drops into the spool; send-mail imports and delivers it to the alias`, async () => {
      needsPg();
      const spool = join(dir, "spool");
      mkdirSync(spool, { recursive: true });
      chmodSync(spool, 0o3733);
      writeFileSync(join(dir, "aliases"), "root: ops@example.com\n");
      const spooled = join(dir, "spool.toml");
      writeFileSync(
        spooled,
        readFileSync(config, "utf8") + `[queue]\nspool = ${JSON.stringify(spool)}\naliases = ${JSON.stringify(join(dir, "aliases"))}\ndefault_domain = "example.org"\n`,
      );
      const submit = await mailer(["sendmail", "--config", spooled, "-FCronDaemon", "-i", "root"], { cwd: dir, stdin: "Subject: deno spool\n\nfrom cron\n" });
      assertEqual([submit.code, submit.stderr], [0, ""], "sendmail exit code and stderr");
      assertEqual(readdirSync(spool).filter((n) => n.endsWith(".msg")).length, 1, "files in the spool");
      const run = await mailer(["send-mail", "--config", spooled], { cwd: dir });
      assertEqual(run.code, 0, `exit code (stderr: ${run.stderr})`);
      const mail = (await sink.waitFor(2, 5_000)).find((m) => m.subject === "deno spool");
      assertEqual(mail?.to, ["ops@example.com"], "delivered to root's alias");
      assertEqual(readdirSync(spool), [], "the spool after the pass");
    });
  } finally {
    await sink.close();
  }
}
