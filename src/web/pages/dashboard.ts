// GET /: the counts `mailer status` prints (from the same statusReport, so the two always agree),
// the activity of the last hour and day, who holds claims and the file lock. Reloads every 15 s.
import { LOG_RESULTS } from "../../db/schema.ts";
import type { Hono } from "hono";
import { fromDbTime } from "../../db/dialect.ts";
import { claimHolders, logActivity } from "../../db/queries/browse.ts";
import { statusReport } from "../../ops/status-report.ts";
import { describeLimit } from "../../ops/limits-report.ts";
import { activityChart, bucketKeys } from "../chart.ts";
import { age, href, html, page, when } from "../html.ts";
import { pageContext, type ConsoleDeps, type ConsoleEnv } from "../server.ts";

const card = (label: string, n: number | string, link: string | null, tone = "") =>
  html`<div class="card ${tone}"><span class="n">${link ? html`<a href="${link}">${n}</a>` : n}</span><span class="k">${label}</span></div>`;

export function registerDashboard(app: Hono<ConsoleEnv>, deps: ConsoleDeps) {
  app.get("/", async (c) => {
    const { db, config } = deps;
    const now = deps.clock();
    const report = await statusReport(db, config, now);
    const holders = await claimHolders(db.kysely);
    const minutes = await logActivity(db.kysely, db.dialect, new Date(now.getTime() - 59 * 60_000 - (now.getTime() % 60_000)), "minute");
    const hours = await logActivity(db.kysely, db.dialect, new Date(now.getTime() - 23 * 3_600_000 - (now.getTime() % 3_600_000)), "hour");
    const lock = report.lock;
    const body = html`<h1>Dashboard</h1>
<section class="cards" aria-label="queue">
  ${card("queued (sendable now)", report.queued, href("/messages", { status: "queued" }), "")}
  ${card("deferred", report.deferred, href("/messages", { status: "deferred" }), report.deferred > 0 ? "warn" : "")}
  ${card("failed", report.failed, href("/messages", { status: "failed" }), report.failed > 0 ? "bad" : "")}
  ${card("being sent (claimed)", report.claimed, null)}
  ${card("scheduled (send-at)", report.scheduled, null)}
  ${card("rate-limited", report.rate_limited, null, report.rate_limited > 0 ? "warn" : "")}
  ${card("expired (last day)", report.log_last_day.expired, href("/log", { result: "expired", period: "24h" }), report.log_last_day.expired > 0 ? "warn" : "")}
  ${card("oldest queued", report.oldest_queued_age_s === null ? "–" : age(report.oldest_queued_age_s), null, (report.oldest_queued_age_s ?? 0) > 600 ? "warn" : "")}
</section>
<h2>Queued by priority</h2>
<section class="cards" aria-label="priority">
  ${card("high", report.queued_by_priority.high, href("/messages", { status: "queued", priority: "high" }))}
  ${card("medium", report.queued_by_priority.medium, href("/messages", { status: "queued", priority: "medium" }))}
  ${card("low", report.queued_by_priority.low, href("/messages", { status: "queued", priority: "low" }))}
</section>
${report.limits.length === 0 ? "" : html`<h2>Limits</h2>
<table class="limits"><thead><tr><th>limit</th><th>allows</th><th>now</th><th class="num">waiting</th><th class="num">sent last minute</th></tr></thead><tbody>
  ${report.limits.map((l) => {
    const { allows, now: state } = describeLimit(l);
    return html`<tr><td>${l.name}</td><td>${allows}</td><td>${state}</td><td class="num">${l.waiting}</td><td class="num">${l.sent_last_minute}</td></tr>`;
  })}
</tbody></table>`}
<h2>Activity</h2>
${activityChart(minutes, bucketKeys(now, "minute", 60), "Per minute, last hour")}
${activityChart(hours, bucketKeys(now, "hour", 24), "Per hour, last day")}
<h2>Log</h2>
<table>
  <thead><tr><th></th><th class="num">last hour</th><th class="num">last day</th><th class="num">all kept</th></tr></thead>
  <tbody>
  ${LOG_RESULTS.map(
    (r) => html`<tr><td><a href="${href("/log", { result: r })}">${r.replace("_", "-")}</a></td><td class="num">${report.log_last_hour[r]}</td><td class="num">${report.log_last_day[r]}</td><td class="num">${report.log[r]}</td></tr>`,
  )}
  </tbody>
</table>
<h2>Workers</h2>
${holders.length === 0
  ? html`<p class="muted">No worker holds a claim right now.</p>`
  : html`<table><thead><tr><th>worker (host:pid:…)</th><th class="num">messages claimed</th><th>lease until</th></tr></thead><tbody>
    ${holders.map((h) => html`<tr><td>${h.worker}</td><td class="num">${h.messages}</td><td>${h.leaseUntil === null ? "" : when(fromDbTime(h.leaseUntil))}</td></tr>`)}
  </tbody></table>`}
<p>File lock (${lock.path}): ${!lock.enabled
  ? "not used (lock.use_file_lock = false)"
  : lock.holder === null
    ? "free"
    : html`held by <strong>${lock.holder.host ?? "?"}:${lock.holder.pid ?? "?"}</strong>${lock.holder.started ? ` since ${lock.holder.started}` : ""}${
        lock.holder.alive === false ? " (stale: its process is gone; the next pass takes it over)" : ""}${lock.holder.unreadable ? ` (unreadable: ${lock.holder.unreadable})` : ""}`}</p>
<p class="muted">Database ${report.database} (${report.dialect}), schema ${report.schema_version ?? "none"}${report.spool ? html`; spool: ${report.spool.waiting} waiting, ${report.spool.set_aside} set aside` : ""}. As of ${when(now)}; this page reloads every 15 s.</p>`;
    return c.html(page({ ...pageContext(c, "Dashboard", "dashboard"), refresh: 15 }, body));
  });
}
