// `mailer sendmail …` and the same binary run through a link named `sendmail`: cron, PHP mail(), git.
// Silent on success (cron mails anything written); sysexits codes from src/cli.ts's report().
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { openContext } from "../context.ts";
import { readAll } from "../intake/read-input.ts";
import { SENDMAIL_USAGE, parseSendmailArgs } from "../intake/sendmail-args.ts";
import { sendmailIntake } from "../intake/sendmail.ts";
import { Queue } from "../queue/queue.ts";

export async function run(argv: string[]): Promise<number> {
  const args = parseSendmailArgs(argv);
  if (args.help) {
    process.stdout.write(SENDMAIL_USAGE + "\n");
    return 0;
  }
  // -C names the config like Postfix's -C names its directory: a directory means its mailer.toml.
  const config = args.config && existsSync(args.config) && statSync(args.config).isDirectory() ? join(args.config, "mailer.toml") : args.config;
  // Run from arbitrary directories (PHP, cron): without a config file this exits 78 rather than
  // create a stray ./mailer.db.
  const ctx = await openContext({ config, requireConfigFile: true });
  const queue = new Queue(ctx.config, ctx.logger);
  ctx.onClose(() => queue.close());
  try {
    const input = await readAll(process.stdin, ctx.config.queue.max_size);
    const outcome = await sendmailIntake(queue, args, input);
    ctx.logger.debug("queued", { id: outcome.id, messageId: outcome.messageId, recipients: outcome.recipients.length });
    return 0;
  } finally {
    await ctx.close();
  }
}
