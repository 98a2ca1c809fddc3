// `mailer sendmail …`, and the same binary run through a link named `sendmail` (cron, PHP mail(), git),
// `mailq` or `newaliases`. Silent on success (cron mails anything written); sysexits codes from
// src/cli.ts's report().
import { existsSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { loadConfig, type Loaded } from "../config/load.ts";
import { contextFor, loggerFor, type Context, type GlobalOptions } from "../context.ts";
import { cutAtLoneDot, readStandardInput } from "../intake/read-input.ts";
import { SENDMAIL_USAGE, parseSendmailArgs, type SendmailArgs } from "../intake/sendmail-args.ts";
import { submitTarget } from "../intake/submit-target.ts";
import { currentUser } from "../queue/host-identity.ts";

export async function run(argv: string[], globals: GlobalOptions): Promise<number> {
  const args = parseSendmailArgs(argv);
  if (args.help) {
    process.stdout.write(SENDMAIL_USAGE + "\n");
    return 0;
  }
  const options: GlobalOptions = {
    config: configPath(args.config ?? globals.config),
    logFormat: args.logFormat ?? globals.logFormat,
    logLevel: args.logLevel ?? globals.logLevel,
    // Run from arbitrary directories (PHP, cron): without a config file this exits 78 rather than
    // create a stray ./mailer.db.
    requireConfigFile: true,
  };
  if (args.mode === "list") return (await import("../ops/mailq.ts")).mailq(options);
  if (args.mode === "aliases") return (await import("../ops/newaliases.ts")).newaliases(options);
  const ctx = contextFor(loadForSubmission(options), options);
  try {
    return args.mode === "smtp" ? await smtpDialogue(ctx, options) : await deliver(ctx, args);
  } finally {
    await ctx.close();
  }
}

/** -C names the config like Postfix's -C names its directory: a directory means its mailer.toml. */
const configPath = (path: string | undefined) =>
  path && existsSync(path) && statSync(path).isDirectory() ? join(path, "mailer.toml") : path;

/** What submitting reads: [queue] and [log], and [database] only without a spool. A spool submitter
 * never opens the database, so neither its URL nor any other section can stop it. */
function loadForSubmission(options: GlobalOptions): Loaded {
  return loadConfig({
    path: options.config,
    requireFile: true,
    uses: (value) => (value("queue.spool") ? ["queue", "log"] : ["database", "queue", "log"]),
  });
}

async function deliver(ctx: Context, args: SendmailArgs): Promise<number> {
  const target = submitTarget(ctx.config, ctx.logger);
  ctx.onClose(() => target.close());
  const input = await readStandardInput(ctx.config.queue.max_size);
  const { id } = await target.submit({
    sender: args.sender,
    recipients: args.recipients,
    extractRecipients: args.extractRecipients,
    fullName: args.fullName,
    via: { protocol: "local" },
    // From the uid, not $USER (cron runs jobs with $USER unset).
    submitter: currentUser(),
    data: args.ignoreDots ? input : cutAtLoneDot(input),
  });
  ctx.logger.debug("queued", { id });
  return 0;
}

/** -bs: an SMTP dialogue on standard input and output, as Symfony Mailer and Laravel run it. Replies
 * go to stdout, so log lines below warnings stay off stderr unless asked for. */
async function smtpDialogue(ctx: Context, options: GlobalOptions): Promise<number> {
  const logger = loggerFor(ctx.config, { ...options, logLevel: options.logLevel ?? (ctx.config.log.level === "debug" ? "debug" : "warn") });
  const target = submitTarget(ctx.config, logger);
  ctx.onClose(() => target.close());
  // Loaded here, not at the top: smtp-server (and through it node:http, zlib, crypto) is for -bs only,
  // and `sendmail -t` from cron or PHP starts without it.
  const { createIntake } = await import("../intake/smtp-intake.ts");
  const intake = createIntake({ target, submitter: currentUser(), logger, allowFrom: [], name: hostname() || "localhost" });
  await intake.serveStdio(process.stdin, process.stdout);
  return 0;
}
