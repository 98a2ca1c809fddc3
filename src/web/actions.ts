// The console's actions on messages, for the ones ticked or for every message matching the list's
// filter. They are the CLI's own functions: retry is `mailer retry-failed`'s requeueFailed (extended
// to deferred messages), "send now" is a send-mail pass restricted to the chosen ids.
import { matchingIds, type MessageFilter } from "../db/queries/browse.ts";
import { chunks } from "../db/queries/chunks.ts";
import { addDontSend } from "../db/queries/dont-send.ts";
import { requeueFailed } from "../db/queries/maintenance.ts";
import { deleteMessages, recipientsOf, setPriority } from "../db/queries/operator.ts";
import { priorityName, type Priority } from "../queue/priority.ts";
import type { Flash } from "./html.ts";
import type { ConsoleDeps } from "./server.ts";

export const ACTIONS = {
  send_now: "Send now",
  retry: "Retry",
  priority: "Set priority",
  delete: "Delete",
  dont_send: "Don't send to the recipients",
} as const;
export type ActionName = keyof typeof ACTIONS;

export type Selection = { ids: number[] } | { filter: MessageFilter };

/** Ids are walked this many at a time: a "send now" pass or one statement's worth. */
const CHUNK = 1000;

async function* chunksOf(deps: ConsoleDeps, selection: Selection): AsyncGenerator<number[]> {
  if ("ids" in selection) {
    yield* chunks(selection.ids, CHUNK);
    return;
  }
  let after = 0;
  for (;;) {
    const ids = await matchingIds(deps.db.kysely, selection.filter, after, CHUNK);
    if (ids.length === 0) return;
    yield ids;
    after = ids.at(-1)!;
  }
}

export async function runAction(deps: ConsoleDeps, action: ActionName, selection: Selection, priority: Priority | null): Promise<Flash> {
  const { db, logger } = deps;
  let chosen = 0;
  const totals = { changed: 0, busy: 0, sent: 0, deferred: 0, failed: 0, dontSend: 0, lockHeld: false };
  for await (const ids of chunksOf(deps, selection)) {
    chosen += ids.length;
    switch (action) {
      case "send_now": {
        // django-mailer's action sends deferred messages too: they (and failed and not-yet-due ones)
        // become due now, then a pass restricted to them sends what no worker holds.
        await requeueFailed(db, { ids, messageIds: [] }, ["queued", "deferred", "failed"]);
        const result = await deps.sendNow(ids);
        totals.sent += result.sent;
        totals.deferred += result.deferred;
        totals.failed += result.failed;
        totals.dontSend += result.dontSend;
        totals.lockHeld ||= result.lockHeld;
        break;
      }
      case "retry":
        totals.changed += (await requeueFailed(db, { ids, messageIds: [] }, ["deferred", "failed"])).length;
        break;
      case "priority":
        totals.changed += await setPriority(db, ids, priority!);
        break;
      case "delete": {
        const { deleted, busy } = await deleteMessages(db, ids, deps.clock());
        totals.changed += deleted;
        totals.busy += busy;
        break;
      }
      case "dont_send":
        for (const address of await recipientsOf(db, ids)) if (await addDontSend(db.kysely, address)) totals.changed++;
        break;
    }
  }
  logger.info("web: action", { action, chosen, ...totals });
  if (chosen === 0) return { kind: "error", text: "No message was chosen: tick some, or choose “all matching”." };
  switch (action) {
    case "send_now":
      if (totals.lockHeld) {
        return { kind: "ok", text: `Another process holds the send lock: the ${chosen} message(s) are queued and due now, and it will send them.` };
      }
      return {
        kind: totals.failed + totals.deferred > 0 ? "error" : "ok",
        text: `Send now: ${totals.sent} sent, ${totals.deferred} deferred, ${totals.failed} failed${totals.dontSend ? `, ${totals.dontSend} dropped (don't-send list)` : ""}` +
          (totals.sent + totals.deferred + totals.failed + totals.dontSend < chosen ? " (the rest were being sent by a worker, or are gone)." : "."),
      };
    case "retry":
      return { kind: "ok", text: `${totals.changed} of ${chosen} message(s) re-queued (only deferred and failed ones are retried).` };
    case "priority":
      return { kind: "ok", text: `${totals.changed} message(s) set to priority ${priorityName(priority!)}.` };
    case "delete":
      return {
        kind: totals.busy > 0 ? "error" : "ok",
        text: `${totals.changed} message(s) deleted.` + (totals.busy > 0 ? ` ${totals.busy} are being sent right now and were left alone.` : ""),
      };
    case "dont_send":
      return { kind: "ok", text: `${totals.changed} address(es) added to the don't-send list.` };
  }
}
