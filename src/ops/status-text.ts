// The terminal form of `mailer status`: the queue, the log by time window, the lock and the database.
import type { LogResult } from "../db/schema.ts";
import { humanAge, table, timeWithDistance } from "./format.ts";
import type { LockInfo } from "./lock-info.ts";
import type { StatusReport } from "./status-report.ts";
import { describeLimit } from "./limits-report.ts";

const RESULTS: Array<[LogResult, string]> = [
  ["success", "success"],
  ["failure", "failure"],
  ["dont_send", "don't send"],
  ["expired", "expired"],
];

export function statusText(r: StatusReport): string {
  const now = new Date(r.now);
  const p = r.queued_by_priority;
  const queue = table(
    [{ header: "queue" }, { header: "total", right: true }, { header: "high", right: true }, { header: "medium", right: true }, { header: "low", right: true }],
    [
      ["queued (sendable)", String(r.queued), String(p.high), String(p.medium), String(p.low)],
      ["queued (scheduled)", String(r.scheduled), "", "", ""],
      ["queued (rate-limited)", String(r.rate_limited), "", "", ""],
      ["deferred", String(r.deferred), "", "", ""],
      ["failed", String(r.failed), "", "", ""],
    ],
  );
  const log = table(
    [{ header: "log" }, { header: "last hour", right: true }, { header: "last day", right: true }, { header: "all time", right: true }],
    RESULTS.map(([key, label]) => [label, String(r.log_last_hour[key]), String(r.log_last_day[key]), String(r.log[key])]),
  );
  const facts = table(
    [{ header: "" }, { header: "" }],
    [
      ["oldest queued", r.oldest_queued_age_s === null ? "-" : humanAge(r.oldest_queued_age_s)],
      ["next retry", timeWithDistance(r.next_retry_at === null ? null : new Date(r.next_retry_at), now)],
      ["in delivery", r.claimed === 0 ? "none" : `${r.claimed} (claimed by a worker)`],
      ["lock", lockText(r.lock)],
      ...(r.spool ? [["spool", `${r.spool.waiting} waiting${r.spool.set_aside ? `, ${r.spool.set_aside} set aside (*.bad)` : ""}`]] : []),
      ["schema", r.schema_version ?? "not migrated"],
      ["database", `${r.database} (${r.dialect})`],
    ],
  )
    .split("\n")
    .slice(1)
    .join("\n");
  const limits = r.limits.length === 0 ? [] : ["", limitsText(r)];
  return [queue, "", log, ...limits, "", facts].join("\n") + "\n";
}

function limitsText(r: StatusReport): string {
  return table(
    [{ header: "limit" }, { header: "allows" }, { header: "now" }, { header: "waiting", right: true }, { header: "sent last min", right: true }],
    r.limits.map((l) => {
      const { allows, now } = describeLimit(l);
      return [l.name, allows, now, String(l.waiting), String(l.sent_last_minute)];
    }),
  );
}

function lockText(lock: LockInfo): string {
  if (!lock.enabled) return `disabled (lock.use_file_lock = false)`;
  const h = lock.holder;
  if (h === null) return "none";
  if (h.unreadable) return `${lock.path}: unreadable (${h.unreadable})`;
  const state = h.alive === true ? "alive" : h.alive === false ? "DEAD: stale, the next pass takes it over" : "on another host";
  return `pid ${h.pid ?? "?"} on ${h.host ?? "?"} since ${h.started ?? "?"} (${state})`;
}
