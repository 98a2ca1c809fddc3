// Flags that all take a text value (`mailer queue`'s), read as node:util's parseArgs reads them in
// strict mode with no positional arguments: `--name value`, `--name=value`, `-c value`, `-cvalue`;
// a repeatable flag collects its values, any other keeps its last; an unknown flag, a flag with no
// value, a value that looks like a flag and a stray argument are refused. Written here because
// importing node:util cost `mailer queue` 0.4 to 0.7 ms of its start-up, about a twentieth of it.
// test/intake/text-flags.test.ts holds it to parseArgs' answers.

export interface TextFlag {
  short?: string;
  multiple?: boolean;
}

export type TextFlagValues = Record<string, string | string[] | undefined>;

export function parseTextFlags(argv: readonly string[], flags: Readonly<Record<string, TextFlag>>): TextFlagValues {
  const values: TextFlagValues = {};
  const byShort = new Map(Object.entries(flags).flatMap(([name, flag]) => (flag.short ? [[flag.short, name] as const] : [])));
  const set = (name: string, value: string) => {
    if (flags[name]!.multiple) ((values[name] ??= []) as string[]).push(value);
    else values[name] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      if (i + 1 < argv.length) throw new Error(`unexpected argument ${JSON.stringify(argv[i + 1])}`);
      break;
    }
    let name: string | undefined;
    let shown: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      shown = `--${name}`;
      if (eq !== -1) inline = arg.slice(eq + 1);
    } else if (arg.startsWith("-") && arg.length > 1) {
      name = byShort.get(arg[1]!);
      shown = arg.slice(0, 2);
      if (arg.length > 2) inline = arg.slice(2);
    } else {
      throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    }
    if (name === undefined || !Object.hasOwn(flags, name)) throw new Error(`unknown option ${shown}`);
    if (inline !== undefined) {
      set(name, inline);
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`option ${shown} needs a value`);
    // "-" alone is a value (stdin); anything else starting with "-" is most likely a forgotten value.
    if (value.length > 1 && value.startsWith("-")) {
      throw new Error(`option ${shown}'s value ${JSON.stringify(value)} looks like an option; write ${shown}=${value} if it is meant`);
    }
    set(name, value);
    i++;
  }
  return values;
}
