// The log: GET /log (filter by result and time, search by recipient or <Message-ID>, newest first
// in keyset pages), GET /log/:id (one attempt and the message text it kept), POST /log/purge.
import type { Hono } from "hono";
import { fromDbTime } from "../../db/dialect.ts";
import { browseLog, logRowById, type LogFilter } from "../../db/queries/browse.ts";
import { purgeLogs } from "../../db/queries/maintenance.ts";
import { splitRecipients } from "../../db/queries/messages.ts";
import { LOG_RESULTS, type LogResult } from "../../db/schema.ts";
import { priorityName } from "../../queue/priority.ts";
import { csrfField, href, html, page, select, when } from "../html.ts";
import { messageBody, registerBodyRoutes } from "../message-view.ts";
import { pageContext, redirectWith, type ConsoleDeps, type ConsoleEnv } from "../server.ts";

const PAGE_SIZE = 50;
const RESULTS: Array<[string, string]> = [["", "any"], ["success", "success"], ["failure", "failure"], ["dont_send", "don't send"], ["expired", "expired"]];
const PERIODS: Record<string, [string, number | null]> = {
  "1h": ["last hour", 3600],
  "24h": ["last day", 86400],
  "7d": ["last 7 days", 7 * 86400],
  "30d": ["last 30 days", 30 * 86400],
  all: ["all kept", null],
};
const PURGE_RESULTS: Record<string, LogResult[]> = {
  success: ["success"],
  failure: ["failure"],
  dont_send: ["dont_send"],
  expired: ["expired"],
  all: [...LOG_RESULTS],
};

export function registerLog(app: Hono<ConsoleEnv>, deps: ConsoleDeps) {
  const { db } = deps;

  app.get("/log", async (c) => {
    const now = deps.clock();
    const result = c.req.query("result");
    const period = Object.hasOwn(PERIODS, c.req.query("period") ?? "") ? c.req.query("period")! : "all";
    const seconds = PERIODS[period]![1];
    const filter: LogFilter = {
      result: (LOG_RESULTS as readonly string[]).includes(result ?? "") ? (result as LogResult) : null,
      since: seconds === null ? null : new Date(now.getTime() - seconds * 1000),
      until: null,
      q: (c.req.query("q") ?? "").slice(0, 500),
    };
    const before = Number(c.req.query("before"));
    const { rows, next } = await browseLog(db.kysely, db.dialect, filter, Number.isSafeInteger(before) && before > 0 ? before : null, PAGE_SIZE);
    const params = { result: filter.result ?? "", period, q: filter.q };
    const csrf = c.get("session").csrf;
    const body = html`<h1>Log</h1>
<form class="filters" method="get" action="/log" role="search">
  <label>Search <input type="search" name="q" value="${filter.q}" placeholder="recipient or <Message-ID>" size="36"></label>
  ${select("result", RESULTS, params.result, "Result")}
  ${select("period", Object.entries(PERIODS).map(([k, [label]]) => [k, label]), period, "When")}
  <button type="submit">Show</button>
</form>
${rows.length === 0
  ? html`<p class="muted">No log entry matches.</p>`
  : html`<table class="log"><thead><tr><th class="num">id</th><th>when</th><th>result</th><th>to</th><th>subject</th><th>Message-ID</th><th class="num">queue id</th><th>message</th></tr></thead><tbody>
  ${rows.map((r) => html`<tr>
    <td class="num"><a href="/log/${r.id}">${r.id}</a></td>
    <td>${when(fromDbTime(r.when_attempted))}</td>
    <td><span class="status ${r.result}">${r.result.replace("_", "-")}</span></td>
    <td class="clip">${splitRecipients(r.envelope_to).join(", ")}</td>
    <td class="clip">${r.subject}</td>
    <td class="clip">${r.message_id ?? ""}</td>
    <td class="num">${r.queue_id === null ? "" : html`<a href="/messages/${r.queue_id}">${r.queue_id}</a>`}</td>
    <td class="clip" title="${r.log_message}">${r.log_message}</td>
  </tr>`)}
  </tbody></table>`}
<p class="pager">${c.req.query("before") ? html`<a href="${href("/log", params)}">« newest</a>` : ""}${next ? html`<a rel="next" href="${href("/log", { ...params, before: next })}">older »</a>` : ""}</p>
<h2>Purge</h2>
<form class="actions" method="post" action="/log/purge">
  ${csrfField(csrf)}
  <label>Delete entries older than <input type="number" name="days" min="0" value="7" required> days</label>
  ${select("purge_result", [["success", "success"], ["failure", "failure"], ["dont_send", "don't send"], ["expired", "expired"], ["all", "all results"]], "success", "with result")}
  <button class="danger" type="submit">Purge</button>
</form>`;
    return c.html(page(pageContext(c, "Log", "log"), body));
  });

  app.get("/log/:id", async (c) => {
    const id = Number(c.req.param("id"));
    const row = Number.isSafeInteger(id) && id > 0 ? await logRowById(db.kysely, id) : null;
    if (!row) return c.notFound();
    const body = html`<h1>Log entry ${id} <span class="status ${row.result}">${row.result.replace("_", "-")}</span></h1>
<dl class="facts">
  <dt>attempted</dt><dd>${when(fromDbTime(row.when_attempted))}</dd>
  <dt>queue id</dt><dd>${row.queue_id === null ? "–" : html`<a href="/messages/${row.queue_id}">${row.queue_id}</a>`}</dd>
  <dt>Message-ID</dt><dd>${row.message_id ?? ""}</dd>
  <dt>subject</dt><dd>${row.subject}</dd>
  <dt>envelope from</dt><dd>${row.envelope_from}</dd>
  <dt>envelope to</dt><dd>${splitRecipients(row.envelope_to).join(", ")}</dd>
  <dt>priority</dt><dd>${priorityName(row.priority)}</dd>
  <dt>retries</dt><dd>${row.retry_count}</dd>
  <dt>queued</dt><dd>${when(fromDbTime(row.when_added))}</dd>
  <dt>log message</dt><dd>${row.log_message || "–"}</dd>
</dl>
${row.message_data ? await messageBody(row.message_data, `/log/${id}`) : html`<p class="muted">The log did not keep the message text (delivery.log_message_data = false).</p>`}`;
    return c.html(page(pageContext(c, `Log entry ${id}`, "log"), body));
  });

  registerBodyRoutes(app, "/log", async (_c, id) => (await logRowById(db.kysely, id))?.message_data ?? null);

  app.post("/log/purge", async (c) => {
    const body = await c.req.parseBody();
    const days = Number(body.days);
    const results = PURGE_RESULTS[String(body.purge_result)];
    if (!Number.isInteger(days) || days < 0 || String(body.days).trim() === "") return redirectWith(c, "/log", "error", "Days must be a whole number, 0 or more.");
    if (!results) return redirectWith(c, "/log", "error", "Choose which results to purge.");
    const count = await purgeLogs(db, new Date(deps.clock().getTime() - days * 86_400_000), results);
    deps.logger.info("web: purged the log", { days, results, deleted: count });
    return redirectWith(c, "/log", "ok", `${count} log entries older than ${days} day(s) deleted.`);
  });
}
