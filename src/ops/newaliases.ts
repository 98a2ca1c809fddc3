// `newaliases` (= `sendmail -bi`): Postfix and sendmail rebuild an indexed copy of /etc/aliases here.
// mailer reads the file itself whenever it changes, so there is nothing to build: this checks it,
// printing what it found and every line it skips.
import { openContext, type GlobalOptions } from "../context.ts";
import { LocalRouting } from "../queue/local-routing.ts";
import { writeStderr } from "../runtime.ts";

export async function newaliases(options: GlobalOptions): Promise<number> {
  const ctx = await openContext({ ...options, uses: ["queue", "log"] });
  try {
    const table = new LocalRouting(ctx.config.queue).aliasTable();
    if (!table) {
      const what = ctx.config.queue.aliases === "" ? "no aliases file (queue.aliases is empty)" : `${ctx.config.queue.aliases}: no such file; no aliases`;
      process.stdout.write(`${what}\n`);
      return 0;
    }
    for (const problem of table.problems) writeStderr(`newaliases: warning: ${problem}\n`);
    const n = table.entries.size;
    process.stdout.write(`${table.file}: ${n} alias${n === 1 ? "" : "es"}${table.problems.length ? `, ${table.problems.length} line(s) skipped` : ""}\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}
