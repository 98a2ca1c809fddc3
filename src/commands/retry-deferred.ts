// `mailer retry-deferred`: deferred messages back on the queue (cron, every 20 minutes), each at most
// delivery.max_retries times. It sends nothing itself: the next pass does.
import { openContext, type GlobalOptions } from "../context.ts";
import { requeueDeferred } from "../db/queries/maintenance.ts";

export async function run(_args: string[], options: GlobalOptions): Promise<number> {
  const ctx = await openContext(options);
  try {
    const db = await ctx.database();
    const count = await requeueDeferred(db, ctx.config.delivery.max_retries);
    process.stdout.write(`${count} message(s) retried\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}
