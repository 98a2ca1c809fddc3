// npm run build: one self-contained executable at dist/mailer (runs with no node_modules beside it).
// scripts/release.ts builds the same for other platforms through compile().
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { $ } from "bun";
import { recordStartups } from "./bytecode-order.ts";

export interface CompileOptions {
  outfile: string;
  /** A `bun build --target` such as bun-linux-arm64 (default: this machine's). */
  target?: string;
  /** That target's Bun executable, taken from its @oven/bun-* npm package (nothing is downloaded by bun). */
  executablePath?: string;
  /** Start-up profiles to lay the bytecode out by (bytecode-order.ts), most important first. */
  bytecodeOrder?: string[];
}

// JavaScriptCore's tier-up thresholds x JIT_POLICY until a thread has run for 50 ms (runtime.ts
// normalJitPolicyAfterStartup): a short command's run-once code stays in the interpreter. On SQLite
// `sendmail -t` went from 18.3 to 16.4 ms and an empty send-mail from 19.1 to 15.9 (hello: 4.2);
// drains and smtpd measured the same. Without the return to 1, a 10k drain fell from 4,591 to 2,755/s.
export const JIT_POLICY = 20;

/** The binary's entry point, then the worker scripts, each an entry point of its own (src/runtime.ts
 * sourceUrl finds them in the bundle). */
const ENTRY_POINTS = ["src/cli.ts", "src/engine/store-worker.ts"];

/** The source maps bun writes beside a compiled outfile: its own, each worker's, and one per chunk,
 * named by a content hash. Each build names its chunks anew, so the last build's maps are removed
 * first rather than piling up. */
export const isSourceMap = (name: string, outfile: string) =>
  name === `${basename(outfile)}.map` ||
  ENTRY_POINTS.slice(1).some((entry) => name === `${basename(entry, ".ts")}.js.map`) ||
  /^[a-z0-9_-]+-[a-z0-9]{8}\.js\.map$/.test(name);

export async function compile({ outfile, target, executablePath, bytecodeOrder = [] }: CompileOptions): Promise<void> {
  const dir = dirname(outfile);
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) if (isSourceMap(name, outfile)) rmSync(join(dir, name));
  const cross = target ? [`--target=${target}`, `--compile-executable-path=${executablePath}`] : [];
  const order = bytecodeOrder.length > 0 ? [`--bytecode-order=${bytecodeOrder.join(",")}`] : [];
  // Not minified and not stripped: stack traces stay readable and a stripped Bun binary does not run.
  // --bytecode: the code is stored compiled, not parsed at every start. A command is mostly start-up
  // (sendmail from cron, send-mail on an empty queue): `mailer --version` went from 90 to 25 ms, an
  // empty send-mail from 127 to 44 ms, `sendmail -t` from 90 to 23 ms. ESM, as the source is.
  // --splitting: each command's modules are a chunk of their own, loaded when the command is (the
  // registry imports them lazily). Without it the whole bundle's bytecode was loaded at every start:
  // `mailer --version` 19 -> 7 ms from outside (a compiled Bun hello: 4 ms), `sendmail -t` 43 -> 35
  // ms (scripts/bench startup step). The chunks' source maps are written beside the outfile.
  await $`bun build --compile --bytecode --format=esm --splitting --compile-jit-policy=${JIT_POLICY} ${order} ${cross} --sourcemap=inline ${ENTRY_POINTS} --outfile ${outfile}`.quiet();
}

/** Builds once for this machine, in a scratch directory, and runs that binary through its common
 * start-ups; `build` gets their profiles, to lay the real build's bytecode out by (release.ts lays
 * out every platform's binary by them: the functions are the same code). */
export async function withStartupProfiles(build: (bytecodeOrder: string[]) => Promise<void>): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), "mailer-startups-"));
  try {
    const probe = join(scratch, "mailer");
    await compile({ outfile: probe });
    await build(await recordStartups(probe, scratch));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const outfile = process.argv[2] ?? "dist/mailer";
  await withStartupProfiles((bytecodeOrder) => compile({ outfile, bytecodeOrder }));
  console.log(`built ${outfile}`);
}
