// `mailer queue`: one message from flags (composed by nodemailer), or a complete message on stdin.
// Prints the queue id on stdout, one line, for scripts.
import { accessSync, constants, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { SendMailOptions } from "nodemailer";
import { openContext, type GlobalOptions } from "../context.ts";
import { DataError, UsageError } from "../errors.ts";
import { composes, parseQueueArgs, type QueueArgs } from "../intake/queue-args.ts";
import { readStandardInput } from "../intake/read-input.ts";
import { parseAddressList, parseMailboxes } from "../queue/address.ts";
import type { EnqueueOutcome } from "../queue/enqueue.ts";
import { isUtf8 } from "../queue/headers.ts";
import { prepareMessage } from "../queue/prepare.ts";
import { Queue } from "../queue/queue.ts";
import { isTerminal, writeStdout } from "../runtime.ts";

export async function run(argv: string[], globals: GlobalOptions): Promise<number> {
  const args = parseQueueArgs(argv);
  // Flags after the subcommand win over the same flags before it.
  const ctx = await openContext({
    uses: globals.uses,
    config: args.config ?? globals.config,
    logFormat: args.logFormat ?? globals.logFormat,
    logLevel: args.logLevel ?? globals.logLevel,
  });
  const queue = new Queue(ctx.config, ctx.logger);
  ctx.onClose(() => queue.close());
  try {
    const outcome = composes(args) ? await fromFlags(queue, args) : await fromStdin(queue, args);
    await writeStdout(`${outcome.id}\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}

async function fromFlags(queue: Queue, args: QueueArgs): Promise<EnqueueOutcome> {
  const mail: SendMailOptions = {
    from: args.from,
    to: args.to,
    cc: args.cc,
    bcc: args.bcc,
    replyTo: args.replyTo,
    subject: args.subject,
    html: args.html,
  };
  if (args.headers.length > 0) mail.headers = args.headers.map(([key, value]) => ({ key, value }));
  if (args.attach.length > 0) mail.attachments = args.attach.map((file) => ({ path: readableFile(file), filename: basename(file) }));
  if (args.text === "-") {
    const body = await readStandardInput(queue.maxSize);
    if (isUtf8(body)) {
      mail.text = Buffer.from(body).toString("utf8");
    } else {
      // Bytes that are not UTF-8 are kept as they are and labelled unknown-8bit (RFC 1428) rather than
      // guessed at. nodemailer labels `text` utf-8 whatever it holds, so the part goes in as an
      // alternative, ahead of the HTML one.
      const plain = { content: Buffer.from(body), contentType: "text/plain; charset=unknown-8bit" };
      const html = mail.html === undefined ? [] : [{ content: mail.html as string, contentType: "text/html; charset=utf-8" }];
      mail.alternatives = [plain, ...html];
      delete mail.html;
    }
  } else if (args.text !== undefined) {
    mail.text = args.text;
  }
  return queue.enqueueOne(await queue.prepare(mail, args.priority, args.schedule));
}

/** The absolute path of an attachment, checked now so a missing file queues nothing. */
function readableFile(file: string): string {
  const path = resolve(file);
  try {
    if (!statSync(path).isFile()) throw new DataError(`--attach ${file}: not a regular file`);
    accessSync(path, constants.R_OK);
  } catch (error) {
    if (error instanceof DataError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new DataError(`--attach ${file}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String(error)}`);
  }
  return path;
}

async function fromStdin(queue: Queue, args: QueueArgs): Promise<EnqueueOutcome> {
  if (isTerminal(0)) {
    throw new UsageError("queue: give --subject/--text/--html/--attach, or pipe a complete message on stdin (see mailer queue --help)");
  }
  const raw = await readStandardInput(queue.maxSize);
  const to = [...args.to, ...args.cc, ...args.bcc].flatMap((a) => parseMailboxes(a, "recipient").map((m) => m.address));
  const prepared = prepareMessage(raw, {
    envelopeFrom: args.from === undefined ? undefined : (parseAddressList(args.from, "--from", queue.routing.qualify)[0] ?? ""),
    // Recipients given as flags are the envelope; otherwise To/Cc/Bcc are read (Bcc removed from the text).
    envelopeTo: to.length > 0 ? to : undefined,
    priority: args.priority,
    schedule: args.schedule,
    addHeaders: args.headers,
    routing: queue.routing,
    defaultSender: queue.defaultSender,
    maxSize: queue.maxSize,
  });
  return queue.enqueueOne(prepared);
}
