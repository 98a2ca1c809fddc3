// The queue as Prometheus sees it, counted from the database at each scrape (mailer web's /metrics).
// The names are SPEC §6's public interface: mailer_queue_messages{state,priority},
// mailer_queue_oldest_age_seconds{state}, mailer_log_entries{result}.
import { Gauge, Registry } from "prom-client";
import type { Database } from "../../db/connect.ts";
import { fromDbTime } from "../../db/dialect.ts";
import { earliest, logWindowCounts, queueGroups, summarise } from "../../db/queries/inspect.ts";
import { LOG_RESULTS, type DbTime } from "../../db/schema.ts";
import { priorityName } from "../../queue/priority.ts";
import { processMetrics } from "./process.ts";
import { sql } from "kysely";

const STATES = ["queued", "deferred", "failed", "claimed"] as const;
const PRIORITIES = ["high", "medium", "low"] as const;
const RESULTS = LOG_RESULTS;

export function queueMetrics(db: Database, clock: () => Date): Registry {
  const registry = new Registry();
  const registers = [registry];
  const messages = new Gauge({
    name: "mailer_queue_messages",
    help: "Messages in the queue by state (queued = sendable now, as `mailer status` counts it; claimed = being sent) and priority",
    labelNames: ["state", "priority"], registers,
  });
  const oldest = new Gauge({
    name: "mailer_queue_oldest_age_seconds",
    help: "Age of the oldest message in each state (queued: the oldest sendable one); 0 when there is none",
    labelNames: ["state"], registers,
  });
  const log = new Gauge({ name: "mailer_log_entries", help: "Log rows kept, by result (purge-mail-log lowers it)", labelNames: ["result"], registers });
  const perMinute = new Gauge({
    name: "mailer_log_entries_per_minute", help: "Log rows per minute over the last 5 minutes, by result (sent, deferred or failed, dropped)",
    labelNames: ["result"], registers,
  });
  const waiting = new Gauge({
    name: "mailer_queue_waiting_messages",
    help: "Queued messages not due yet, by reason: scheduled (send-at, automatic retry) or rate_limited (held back by a [limits] limit)",
    labelNames: ["reason"], registers,
  });
  const ready = new Gauge({ name: "mailer_database_up", help: "1 when the last scrape could read the database", registers });

  // One collect for all of them: prom-client calls each metric's collect, and these share two statements.
  let collecting: Promise<void> | null = null;
  const collectAll = () =>
    (collecting ??= (async () => {
      const now = clock();
      try {
        const groups = await queueGroups(db.kysely, db.dialect.toDb(now));
        // Its "hour" window is given the last 5 minutes here: the per-minute rate below.
        const windows = await logWindowCounts(db.kysely, db.dialect.toDb(new Date(now.getTime() - 300_000)), db.dialect.toDb(new Date(now.getTime() - 86_400_000)));
        messages.reset();
        oldest.reset();
        // Folded as `status` folds them (summarise), so the two cannot drift apart.
        const { waiting: notDue, limited } = summarise(groups);
        waiting.set({ reason: "scheduled" }, notDue - limited);
        waiting.set({ reason: "rate_limited" }, limited);
        for (const state of STATES) for (const p of PRIORITIES) messages.set({ state, priority: p }, 0);
        const oldestBy: Record<string, DbTime | null | undefined> = { queued: null, deferred: null, failed: null, claimed: null };
        for (const g of groups) {
          const p = priorityName(g.priority);
          if (p === "unknown") continue;
          if (g.status === "queued") {
            messages.inc({ state: "queued", priority: p }, g.due);
            oldestBy.queued = earliest(oldestBy.queued ?? null, g.oldestDue);
          } else {
            messages.inc({ state: g.status, priority: p }, g.n);
            oldestBy[g.status] = earliest(oldestBy[g.status] ?? null, g.oldest ?? null);
          }
          messages.inc({ state: "claimed", priority: p }, g.claimed);
        }
        const oldestClaimed = await db.kysely
          .selectFrom("mailer_message").select(sql<DbTime | null>`min(when_added)`.as("t"))
          .where("claimed_by", "is not", null).where("lease_until", ">", db.dialect.toDb(now)).executeTakeFirst();
        oldestBy.claimed = oldestClaimed?.t ?? null;
        for (const state of STATES) {
          const t = oldestBy[state] ?? null;
          oldest.set({ state }, t === null ? 0 : Math.max(0, (now.getTime() - fromDbTime(t).getTime()) / 1000));
        }
        for (const r of RESULTS) {
          log.set({ result: r }, windows.all[r]);
          perMinute.set({ result: r }, windows.hour[r] / 5);
        }
        ready.set(1);
      } catch {
        ready.set(0);
      }
    })().finally(() => setTimeout(() => (collecting = null), 0)));
  for (const metric of [messages, oldest, log, perMinute, waiting, ready]) (metric as unknown as { collect: () => Promise<void> }).collect = collectAll;
  processMetrics(registry);
  return registry;
}
