#!/usr/bin/env bun
// Entry point: cac wiring, and the one place where errors become exit codes.
import { basename } from "node:path";
import { cac } from "cac";
import { classifyDatabaseError } from "./db/classify-error.ts";
import { EXIT, MailerError, UsageError, errorText } from "./errors.ts";
import { COMMANDS, findCommand, type CommandSpec } from "./commands/registry.ts";
import { normalJitPolicyAfterStartup, writeStderr } from "./runtime.ts";
import { VERSION } from "./version.ts";

const GLOBAL_FLAGS = [
  { flags: "-c, --config <path>", description: "config file (default: $MAILER_CONFIG, ./mailer.toml, /etc/mailer/mailer.toml)" },
  { flags: "--log-format <format>", description: "text | json (default: log.format)" },
  { flags: "--log-level <level>", description: "debug | info | warn | error (default: log.level)" },
];

function report(error: unknown): number {
  const mapped = error instanceof MailerError ? error : classifyDatabaseError(error, "");
  if (mapped instanceof MailerError) {
    for (const line of mapped.message.split("\n")) writeStderr(`mailer: ${line}\n`);
    return mapped.exitCode;
  }
  if ((error as Error)?.name === "CACError") {
    writeStderr(`mailer: ${errorText(error)} (see mailer --help)\n`);
    return EXIT.usage;
  }
  writeStderr(`mailer: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.software;
}

/** The global flags given before the subcommand (`mailer --config X queue …`), taken off the front of
 * argv so that every command, raw or not, sees them the same way. */
export interface LeadingGlobals {
  options: { config?: string; logFormat?: string; logLevel?: string };
  /** The same flags as words, for cac to parse after the subcommand. */
  words: string[];
  rest: string[];
}

const GLOBAL_NAMES: Record<string, "config" | "logFormat" | "logLevel"> = {
  "-c": "config",
  "--config": "config",
  "--log-format": "logFormat",
  "--log-level": "logLevel",
};

export function takeLeadingGlobals(argv: string[]): LeadingGlobals {
  const options: LeadingGlobals["options"] = {};
  const words: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const name = GLOBAL_NAMES[flag];
    if (!name) break;
    const value = flag === arg ? argv[i + 1] : arg.slice(eq + 1);
    if (value === undefined) throw new UsageError(`${flag} requires a value`);
    options[name] = value;
    words.push(flag, value);
    i += flag === arg ? 2 : 1;
  }
  return { options, words, rest: argv.slice(i) };
}

async function runCommand(spec: CommandSpec, args: string[], options: Record<string, unknown>): Promise<number> {
  const module = await spec.load();
  const code = await module.run(args, { ...options, uses: spec.uses });
  return typeof code === "number" ? code : EXIT.ok;
}

/** Links that make the binary a system mailer, as Postfix's are: `mailq` is `sendmail -bp`,
 * `newaliases` is `sendmail -bi`. */
const LINKS: Record<string, string[]> = { sendmail: [], mailq: ["-bp"], newaliases: ["-bi"] };

export async function main(argv: string[], invokedAs: string): Promise<number> {
  try {
    const link = LINKS[basename(invokedAs)];
    if (link) return await runCommand(findCommand("sendmail")!, [...link, ...argv], {});
    const globals = takeLeadingGlobals(argv);
    const [first, ...rest] = globals.rest;
    // Raw commands (sendmail's -oi, -odi, -f …; queue's text values) parse their own argv; global
    // flags given before them arrive as options, and the same flags after them win.
    const raw = first ? COMMANDS.find((c) => c.raw && c.name === first) : undefined;
    if (raw && !rest.some((a) => a === "--help" || a === "-h")) return await runCommand(raw, rest, globals.options);

    const cli = cac("mailer");
    for (const flag of GLOBAL_FLAGS) cli.option(flag.flags, flag.description);
    let pending: Promise<number> | null = null;
    // Only the command named is described to cac: describing all of them (their options, examples)
    // cost every command's start-up about half a millisecond, an empty send-mail's included. With no
    // command, an unknown one or `--help` alone, cac gets them all, to list or to match against.
    const named = COMMANDS.filter((spec) => spec.name === first);
    for (const spec of named.length > 0 ? named : COMMANDS) {
      const command = cli.command(spec.usage, spec.description);
      if (spec.raw) command.allowUnknownOptions();
      for (const option of spec.options ?? []) command.option(option.flags, option.description, { default: option.default });
      for (const example of spec.examples ?? []) command.example(example);
      command.action((...params: unknown[]) => {
        const options = params.pop() as Record<string, unknown>;
        const args = params.flatMap((p) => (Array.isArray(p) ? p.map(String) : p === undefined ? [] : [String(p)]));
        pending = runCommand(spec, args, options);
      });
    }
    cli.help();
    cli.version(VERSION);
    // The leading global flags go after the subcommand, where cac reads them like any option.
    cli.parse(["mailer", "mailer", ...globals.rest, ...globals.words], { run: false });
    if (cli.options.help || cli.options.version) return EXIT.ok;
    if (!cli.matchedCommand) {
      if (globals.rest.length === 0) {
        cli.outputHelp();
        return EXIT.usage;
      }
      writeStderr(`mailer: unknown command ${JSON.stringify(globals.rest[0])} (see mailer --help)\n`);
      return EXIT.usage;
    }
    await cli.runMatchedCommand();
    return await (pending ?? Promise.resolve(EXIT.ok));
  } catch (error) {
    return report(error);
  }
}

if (import.meta.main) {
  normalJitPolicyAfterStartup();
  const code = await main(process.argv.slice(2), process.argv0);
  process.exit(code);
}
