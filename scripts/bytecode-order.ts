// The start-ups the compiled binary's bytecode is laid out for (bun build --bytecode-order): a
// binary is run through the short commands that are most of its runs, each recording which
// functions it used (BUN_BYTECODE_ORDER_OUT); the next build puts those functions together at the
// front of the executable, so a start-up reads fewer pages. On SQLite, timed interleaved from
// outside (exec-times.py, 60 rounds), `sendmail -t` went from 13.1 to 12.6 ms and `queue` from 12.3
// to 11.6 (a compiled hello: 4.4 ms on that busy machine).
//
// The profile is made afresh by each build from the binary it just built (build.ts), not kept in the
// repository: it always matches the code, and a build needs nothing but itself and a temp dir.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** A message as cron or PHP hands one to sendmail. */
const MESSAGE = "From: app@example.test\nTo: user@example.test\nSubject: start-up\n\nHello.\n";

/** Most common first, as --bytecode-order wants them: sendmail from cron and PHP, send-mail from cron
 * (an empty queue, most minutes), a script's `mailer queue`, and `--version`. */
const STARTUPS: { name: string; args: string[]; stdin?: string }[] = [
  { name: "sendmail", args: ["sendmail", "-t", "-oi"], stdin: MESSAGE },
  { name: "send-mail", args: ["send-mail"] },
  { name: "queue", args: ["queue", "--from", "app@example.test", "--to", "user@example.test", "--subject", "start-up", "--text", "Hello."] },
  { name: "version", args: ["--version"] },
];

/** Runs `binary` through STARTUPS on a throwaway SQLite queue; returns the recorded profiles (in
 * `dir`, which the caller removes) in order of importance. */
export async function recordStartups(binary: string, dir: string): Promise<string[]> {
  const work = mkdtempSync(join(tmpdir(), "mailer-bytecode-order-"));
  try {
    const config = join(work, "mailer.toml");
    writeFileSync(config, `[database]\nurl = "sqlite:./queue.db"\n[backend]\ntype = "null"\n[lock]\npath = "./send_mail"\n`);
    const profiles: string[] = [];
    for (const { name, args, stdin } of STARTUPS) {
      const profile = join(dir, `${name}.order`);
      const child = Bun.spawn([resolve(binary), ...args], {
        cwd: work,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", MAILER_CONFIG: config, BUN_BYTECODE_ORDER_OUT: profile },
        stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
        stdout: "ignore",
        stderr: "pipe",
      });
      const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
      if (code !== 0) throw new Error(`${binary} ${args.join(" ")} exited ${code} while recording its start-up: ${stderr.trim()}`);
      profiles.push(profile);
    }
    return profiles;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
