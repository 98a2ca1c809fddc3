#!/usr/bin/env bun
// Entry point: cac wiring, and the one place where errors become exit codes.
import { basename } from "node:path";
import { cac } from "cac";
import { classifyDatabaseError } from "./db/connect.ts";
import { EXIT, MailerError, errorText } from "./errors.ts";
import { COMMANDS, findCommand, type CommandSpec } from "./commands/registry.ts";
import { VERSION } from "./version.ts";

const GLOBAL_FLAGS = [
  { flags: "-c, --config <path>", description: "config file (default: $MAILER_CONFIG, ./mailer.toml, /etc/mailer/mailer.toml)" },
  { flags: "--log-format <format>", description: "text | json (default: log.format)" },
  { flags: "--log-level <level>", description: "debug | info | warn | error (default: log.level)" },
];

function report(error: unknown): number {
  const mapped = error instanceof MailerError ? error : classifyDatabaseError(error, "");
  if (mapped instanceof MailerError) {
    for (const line of mapped.message.split("\n")) process.stderr.write(`mailer: ${line}\n`);
    return mapped.exitCode;
  }
  if ((error as Error)?.name === "CACError") {
    process.stderr.write(`mailer: ${errorText(error)} (see mailer --help)\n`);
    return EXIT.usage;
  }
  process.stderr.write(`mailer: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.software;
}

async function runCommand(spec: CommandSpec, args: string[], options: Record<string, unknown>): Promise<number> {
  const module = await spec.load();
  const code = await module.run(args, options);
  return typeof code === "number" ? code : EXIT.ok;
}

/** sendmail(1) flags (-oi, -odi, -f addr …) are not GNU-style; that command parses its own argv. */
async function runRaw(spec: CommandSpec, argv: string[]): Promise<number> {
  return runCommand(spec, argv, {});
}

export async function main(argv: string[], invokedAs: string): Promise<number> {
  try {
    const sendmail = findCommand("sendmail")!;
    if (basename(invokedAs) === "sendmail") return await runRaw(sendmail, argv);
    const first = argv[0];
    const raw = first ? COMMANDS.find((c) => c.raw && c.name === first) : undefined;
    if (raw && !argv.slice(1).some((a) => a === "--help" || a === "-h")) return await runRaw(raw, argv.slice(1));

    const cli = cac("mailer");
    for (const flag of GLOBAL_FLAGS) cli.option(flag.flags, flag.description);
    let pending: Promise<number> | null = null;
    for (const spec of COMMANDS) {
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
    cli.parse(["mailer", "mailer", ...argv], { run: false });
    if (cli.options.help || cli.options.version) return EXIT.ok;
    if (!cli.matchedCommand) {
      if (argv.length === 0) {
        cli.outputHelp();
        return EXIT.usage;
      }
      process.stderr.write(`mailer: unknown command ${JSON.stringify(argv[0])} (see mailer --help)\n`);
      return EXIT.usage;
    }
    await cli.runMatchedCommand();
    return await (pending ?? Promise.resolve(EXIT.ok));
  } catch (error) {
    return report(error);
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2), process.argv0);
  process.exit(code);
}
