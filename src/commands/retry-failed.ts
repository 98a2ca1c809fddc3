// `mailer retry-failed ID…|--all`: failed messages (a permanent refusal, used-up retries or lifetime,
// or an error handler's "failed") back on the queue for one more attempt each. The operator's tool
// after fixing what made them fail; retry-deferred never touches failed messages.
import { openContext, type GlobalOptions } from "../context.ts";
import { requeueFailed, type FailedSelection } from "../db/queries/maintenance.ts";
import { UsageError } from "../errors.ts";
import { parseMessageKey } from "../ops/message-key.ts";
import { writeStderr } from "../runtime.ts";

/** Queue ids and Message-IDs (with or without angle brackets) from the arguments. */
export function parseSelection(args: string[], all: boolean): FailedSelection {
  const keys = args.map((a) => a.trim()).filter(Boolean);
  if (all && keys.length > 0) throw new UsageError("retry-failed: give message ids or --all, not both");
  if (all) return { all: true };
  if (keys.length === 0) throw new UsageError("retry-failed: expected one or more queue ids or <Message-ID>s, or --all");
  const ids: number[] = [];
  const messageIds: string[] = [];
  for (const key of keys) {
    const parsed = parseMessageKey(key);
    if ("id" in parsed) ids.push(parsed.id);
    else messageIds.push(...parsed.messageIds);
  }
  return { ids, messageIds };
}

export async function run(args: string[], options: GlobalOptions & { all?: boolean }): Promise<number> {
  const which = parseSelection(args, options.all === true);
  const ctx = await openContext(options);
  try {
    const db = await ctx.database();
    const moved = await requeueFailed(db, which);
    process.stdout.write(`${moved.length} message(s) re-queued\n`);
    if ("all" in which) return 0;
    // Say which named messages were not failed ones (unknown, or queued/deferred): exit 1, as `show`.
    const found = new Set(moved.flatMap((m) => [String(m.id), m.message_id, m.message_id.replace(/^<|>$/g, "")]));
    const missing = args.map((a) => a.trim()).filter((a) => a && !found.has(a) && !found.has(a.replace(/^<|>$/g, "")));
    for (const key of missing) writeStderr(`mailer: retry-failed: no failed message with ${"id" in parseMessageKey(key) ? "id" : "Message-ID"} ${key}\n`);
    return missing.length > 0 ? 1 : 0;
  } finally {
    await ctx.close();
  }
}
