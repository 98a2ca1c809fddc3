// `mailer dont-send add|remove|list`: the suppression list every enqueue path (and send-mail) applies.
// Addresses are matched case-insensitively; "Name <addr>" is accepted and stored as the bare address.
import { openContext, type GlobalOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { singleAddress } from "../queue/address.ts";
import { Queue } from "../queue/queue.ts";

export async function run(args: string[], options: GlobalOptions): Promise<number> {
  const [action, ...addresses] = args;
  if (action !== "add" && action !== "remove" && action !== "list") {
    throw new UsageError(`dont-send: expected add, remove or list, got ${JSON.stringify(action ?? "")}`);
  }
  if (action === "list" && addresses.length > 0) throw new UsageError("dont-send list takes no addresses");
  if (action !== "list" && addresses.length === 0) throw new UsageError(`dont-send ${action}: give at least one address`);
  // Every address is checked before the first change, so a typo in the third changes nothing.
  for (const address of addresses) singleAddress(address);
  const ctx = await openContext(options);
  const queue = new Queue(ctx.config, ctx.logger);
  ctx.onClose(() => queue.close());
  try {
    if (action === "list") {
      for (const entry of await queue.listDontSend()) process.stdout.write(`${entry.address}\t${entry.whenAdded.toISOString()}\n`);
      return 0;
    }
    for (const address of addresses) {
      const changed = action === "add" ? await queue.addDontSend(address) : await queue.removeDontSend(address);
      const verb = action === "add" ? (changed ? "added" : "already listed") : changed ? "removed" : "not listed";
      process.stdout.write(`${verb}: ${address}\n`);
    }
    return 0;
  } finally {
    await ctx.close();
  }
}
