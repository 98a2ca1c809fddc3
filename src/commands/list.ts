// `mailer list`: which messages are queued (or deferred, failed, all), oldest and most urgent first.
import { openContext, type GlobalOptions } from "../context.ts";
import { listMessages } from "../db/queries/inspect.ts";
import type { MessageStatus } from "../db/schema.ts";
import { UsageError } from "../errors.ts";
import { configSecrets, outputWidth, scrub } from "../ops/format.ts";
import { listText, listedMessage } from "../ops/list-view.ts";

interface ListOptions extends GlobalOptions {
  deferred?: boolean;
  failed?: boolean;
  all?: boolean;
  limit?: unknown;
  json?: boolean;
}

function selection(options: ListOptions): { statuses: MessageStatus[]; what: string } {
  const chosen = (["deferred", "failed", "all"] as const).filter((flag) => options[flag] === true);
  if (chosen.length > 1) throw new UsageError(`list: choose one of --deferred, --failed, --all (got ${chosen.map((c) => `--${c}`).join(", ")})`);
  const flag = chosen[0];
  if (flag === "all") return { statuses: [], what: "" };
  const status: MessageStatus = flag ?? "queued";
  return { statuses: [status], what: status };
}

export async function run(_args: string[], options: ListOptions): Promise<number> {
  const { statuses, what } = selection(options);
  const limit = Number(options.limit ?? 50);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected an integer >= 1, got ${JSON.stringify(options.limit)}`);
  const ctx = await openContext(options);
  try {
    const db = await ctx.database();
    const now = ctx.clock();
    const { rows, total } = await listMessages(db.kysely, statuses, limit);
    const messages = rows.map((row) => listedMessage(row, now));
    const text = options.json
      ? JSON.stringify({ status: statuses[0] ?? "all", total, messages }) + "\n"
      : listText(messages, total, what, outputWidth());
    process.stdout.write(scrub(text, configSecrets(ctx.config)));
    return 0;
  } finally {
    await ctx.close();
  }
}
