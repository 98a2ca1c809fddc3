// text-flags.ts reads `mailer queue`'s flags without node:util: held here to parseArgs' answers (strict,
// no positionals, every option a string), and to its own wording where it refuses.
import { describe, expect, test } from "bun:test";
import { parseArgs } from "node:util";
import { QUEUE_FLAGS } from "../../src/intake/queue-args.ts";
import { parseTextFlags } from "../../src/intake/text-flags.ts";

const NODE_OPTIONS = Object.fromEntries(
  Object.entries(QUEUE_FLAGS).map(([name, flag]) => [name, { type: "string" as const, ...(flag.short ? { short: flag.short } : {}), ...(flag.multiple ? { multiple: true } : {}) }]),
);
const nodeParse = (argv: string[]) => ({ ...parseArgs({ args: argv, options: NODE_OPTIONS, strict: true, allowPositionals: false }).values });

const ACCEPTED: string[][] = [
  [],
  ["--subject", "0x10", "--to", "a@example.com", "--to", "b@example.com", "--text", "-"],
  ["--subject=a=b", "--to=a@example.com", "--cc", "c@example.com", "--bcc=d@example.com"],
  ["-c", "/etc/mailer/mailer.toml", "--from", "app@example.com"],
  ["-c/etc/mailer/mailer.toml"],
  ["-c=odd"],
  ["--subject", "first", "--subject", "last"],
  ["--text", ""],
  ["--subject="],
  ["--header", "X-A: 1: 2", "--header", "X-B: 3", "--attach", "a.pdf", "--attach", "b.pdf"],
  ["--text", "line 1\nline 2", "--html", "<p>-</p>"],
  ["--priority", "high", "--send-at", "+10m", "--expires-at=2027-01-01T00:00:00Z", "--idempotency-key", "k"],
  ["--log-level", "debug", "--log-format", "json", "--reply-to", "r@example.com"],
  ["--subject", "a", "--"],
];

const REFUSED: Array<[string[], string]> = [
  [["--bogus"], "unknown option --bogus"],
  [["--constructor", "x"], "unknown option --constructor"],
  [["-x", "1"], "unknown option -x"],
  [["--c", "file"], "unknown option --c"],
  [["stray"], 'unexpected argument "stray"'],
  [["-"], 'unexpected argument "-"'],
  [["--subject", "a", "--", "b"], 'unexpected argument "b"'],
  [["--subject"], "option --subject needs a value"],
  [["-c"], "option -c needs a value"],
  [["--subject", "--to", "a@example.com"], `option --subject's value "--to" looks like an option; write --subject=--to if it is meant`],
  [["-c", "-x"], `option -c's value "-x" looks like an option; write -c=-x if it is meant`],
];

describe("mailer queue's flags, read without node:util", () => {
  test("what parseArgs accepts is read as parseArgs reads it", () => {
    for (const argv of ACCEPTED) expect({ argv, values: parseTextFlags(argv, QUEUE_FLAGS) }).toEqual({ argv, values: nodeParse(argv) });
  });

  test("what parseArgs refuses is refused, saying what is wrong", () => {
    for (const [argv, message] of REFUSED) {
      expect(() => nodeParse(argv)).toThrow();
      expect(() => parseTextFlags(argv, QUEUE_FLAGS)).toThrow(message);
    }
  });
});
