// sendmail(1) command-line parsing, as Postfix's sendmail does it (getopt string
// "B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx"): flags may be bundled (-ti), an option's argument
// may be attached (-fme@x) or separate (-f me@x), options may follow recipients, `--` ends them, and
// the many legacy flags are accepted and ignored.
import { UsageError } from "../errors.ts";

/** -bm (the default): read a message; -bs: an SMTP dialogue on stdin/stdout; -bp: list the queue
 * (mailq); -bi: check the aliases file (newaliases). */
export type SendmailMode = "deliver" | "smtp" | "list" | "aliases";

export interface SendmailArgs {
  mode: SendmailMode;
  /** -t: recipients from To/Cc/Bcc (added to those given as arguments, as Postfix does). */
  extractRecipients: boolean;
  /** -i / -oi: a line with a lone "." does not end the message. */
  ignoreDots: boolean;
  /** -f / -r: the envelope sender ("" is the null sender). */
  sender?: string;
  /** -F: the From display name when the message has no From header. */
  fullName?: string;
  /** -C or --config: the mailer.toml to use (Postfix: its configuration directory). */
  config?: string;
  /** --log-format, --log-level, as on every mailer command. */
  logFormat?: string;
  logLevel?: string;
  recipients: string[];
  /** --help */
  help: boolean;
}

/** Flags that take an argument and are ignored. */
const IGNORED_WITH_ARG = new Set(["B", "L", "N", "O", "R", "V", "X", "e", "h", "p"]);
/** Flags without an argument that are ignored. */
const IGNORED = new Set(["G", "U", "c", "m", "n", "v", "x"]);
/** mailer's own long options, which sendmail's getopt would not know. */
const LONG = { "--config": "config", "--log-format": "logFormat", "--log-level": "logLevel" } as const;

export const SENDMAIL_USAGE =
  "usage: sendmail [-t] [-i|-oi] [-f sender] [-F full-name] [-C|--config mailer.toml] [recipient ...] < message\n" +
  "       sendmail -bs    (SMTP on standard input and output)\n" +
  "       sendmail -bp    (list the queue, as mailq)\n" +
  "       sendmail -bi    (check the aliases file, as newaliases)";

export function parseSendmailArgs(argv: string[]): SendmailArgs {
  const out: SendmailArgs = { mode: "deliver", extractRecipients: false, ignoreDots: false, recipients: [], help: false };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (arg === "--help") {
      out.help = true;
      continue;
    }
    // `mailer sendmail --config PATH`, as every other mailer command takes it (-C is the sendmail spelling).
    const long = Object.keys(LONG).find((name) => arg === name || arg.startsWith(`${name}=`)) as keyof typeof LONG | undefined;
    if (long) {
      const value = arg === long ? argv[++i] : arg.slice(long.length + 1);
      if (value === undefined || value === "") throw new UsageError(`sendmail: ${long} requires a value\n${SENDMAIL_USAGE}`);
      out[LONG[long]] = value;
      continue;
    }
    // Like glibc's getopt (which Postfix's sendmail uses on Linux), options may follow recipients.
    if (!arg.startsWith("-") || arg === "-") {
      out.recipients.push(arg);
      continue;
    }
    if (arg.startsWith("--")) throw new UsageError(`sendmail: unknown option ${arg}\n${SENDMAIL_USAGE}`);
    // Walk the bundled letters; a letter that takes an argument consumes the rest of this word or the next word.
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j]!;
      const takesArg = "BCFLNORVXbefhopqr".includes(flag);
      let value = "";
      if (takesArg) {
        if (j + 1 < arg.length) value = arg.slice(j + 1);
        else if (i + 1 < argv.length) value = argv[++i]!;
        else throw new UsageError(`sendmail: option -${flag} requires an argument\n${SENDMAIL_USAGE}`);
        j = arg.length;
      }
      applyFlag(out, flag, value);
    }
  }
  out.recipients.push(...argv.slice(i));
  return out;
}

const MODES: Record<string, SendmailMode> = { m: "deliver", s: "smtp", p: "list", i: "aliases" };

function applyFlag(out: SendmailArgs, flag: string, value: string): void {
  switch (flag) {
    case "t":
      out.extractRecipients = true;
      return;
    case "i":
      out.ignoreDots = true;
      return;
    case "o":
      // -oi is -i; every other -oX (-odi, -oem, -oA…) is a legacy sendmail.cf option, ignored.
      if (value === "i") out.ignoreDots = true;
      return;
    case "f":
    case "r":
      out.sender = value === "<>" ? "" : value;
      return;
    case "F":
      out.fullName = value;
      return;
    case "C":
      out.config = value;
      return;
    case "b": {
      const mode = MODES[value];
      // -bd (a daemon), -bv (verify), -bt (address test) … are other programs' jobs.
      if (!mode) throw new UsageError(`sendmail: -b${value} is not supported (-bm, -bs, -bp, -bi are)`);
      out.mode = mode;
      return;
    }
    case "q":
      throw new UsageError("sendmail: -q (run the queue) is not supported; use `mailer send-mail`");
    case "I":
      out.mode = "aliases";
      return;
  }
  if (IGNORED.has(flag) || IGNORED_WITH_ARG.has(flag)) return;
  throw new UsageError(`sendmail: unknown option -${flag}\n${SENDMAIL_USAGE}`);
}
