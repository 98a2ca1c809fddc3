import { openDatabase } from "../db/connect.ts";
import { migrateToLatest } from "../db/migrate.ts";
import { openContext, type GlobalOptions } from "../context.ts";

export async function run(_args: string[], options: GlobalOptions): Promise<number> {
  const ctx = await openContext(options);
  try {
    // Not ctx.database(): that checks the schema, which is what this command creates.
    const db = await openDatabase(ctx.config.database.url, { busyTimeout: ctx.config.database.busy_timeout });
    ctx.onClose(() => db.close());
    const { applied } = await migrateToLatest(db);
    const summary = applied.length === 0 ? "schema is up to date" : `applied ${applied.length} migration(s): ${applied.join(", ")}`;
    ctx.logger.info(summary, { database: db.displayUrl });
    process.stdout.write(summary + "\n");
    return 0;
  } finally {
    await ctx.close();
  }
}
