// The queue: GET /messages (filter, search, sort, keyset pages), GET /messages/:id (one message,
// or what the log kept of it once it has left the queue), POST /messages/actions.
import type { Hono } from "hono";
import { fromDbTime } from "../../db/dialect.ts";
import { browseMessages, loggedMessageData, type MessageFilter, type MessageOrder } from "../../db/queries/browse.ts";
import { findMessages } from "../../db/queries/inspect.ts";
import { splitRecipients } from "../../db/queries/messages.ts";
import type { MessageStatus } from "../../db/schema.ts";
import { showFound, type ShownLog } from "../../ops/show-view.ts";
import { PRIORITY, priorityName, type Priority } from "../../queue/priority.ts";
import { ACTIONS, runAction, type ActionName, type Selection } from "../actions.ts";
import { age, csrfField, href, html, page, select, when, type Html } from "../html.ts";
import { decodeCursor, encodeCursor } from "../cursor.ts";
import { messageBody, registerBodyRoutes } from "../message-view.ts";
import { pageContext, redirectWith, type ConsoleContext, type ConsoleDeps, type ConsoleEnv } from "../server.ts";

const PAGE_SIZE = 50;
const STATES: Array<[string, string]> = [["all", "All"], ["queued", "Queued"], ["deferred", "Deferred"], ["failed", "Failed"]];
const ORDERS: Array<[MessageOrder, string]> = [["queue", "queue order (priority, age)"], ["oldest", "oldest first"], ["newest", "newest first"]];

/** The list's filter from query or form fields; anything unknown falls back to "any". */
export function filterFrom(get: (key: string) => string | undefined): MessageFilter & { order: MessageOrder } {
  const status = get("status");
  const priority = get("priority");
  const order = get("order");
  const filter: MessageFilter = {
    status: status === "queued" || status === "deferred" || status === "failed" ? (status as MessageStatus) : null,
    priority: priority && Object.hasOwn(PRIORITY, priority) ? PRIORITY[priority as keyof typeof PRIORITY] : null,
    q: (get("q") ?? "").slice(0, 500),
  };
  // Queue order walks the queue index when one state is chosen; across states the id orders are the fast ones.
  const fallback: MessageOrder = filter.status ? "queue" : "oldest";
  return { ...filter, order: order === "queue" || order === "oldest" || order === "newest" ? order : fallback };
}

const filterParams = (f: MessageFilter & { order?: MessageOrder }) => ({
  status: f.status ?? "all",
  priority: f.priority ? priorityName(f.priority) : "",
  q: f.q,
  order: f.order,
});

const badge = (status: string) => html`<span class="status ${status}">${status}</span>`;

function actionBar(prefix: string, withScope: boolean): Html {
  return html`<div class="actions" role="group" aria-label="actions">
  ${withScope
    ? html`<label><input type="radio" name="scope" value="selected" checked> ticked</label>
  <label><input type="radio" name="scope" value="all"> all matching the filter</label>`
    : ""}
  <button class="primary" type="submit" name="action" value="send_now">${ACTIONS.send_now}</button>
  <button type="submit" name="action" value="retry">${ACTIONS.retry}</button>
  ${select(`${prefix}new_priority`, [["high", "high"], ["medium", "medium"], ["low", "low"]], "medium", "priority")}
  <button type="submit" name="action" value="priority">${ACTIONS.priority}</button>
  <button type="submit" name="action" value="dont_send">${ACTIONS.dont_send}</button>
  <button class="danger" type="submit" name="action" value="delete">${ACTIONS.delete}…</button>
</div>`;
}

function historyTable(log: ShownLog[]): Html {
  if (log.length === 0) return html`<p class="muted">No attempt yet.</p>`;
  return html`<table><thead><tr><th>when</th><th>result</th><th>to</th><th class="num">retries</th><th>message</th></tr></thead><tbody>
  ${log.map((l) => html`<tr><td><a href="/log/${l.id}">${when(new Date(l.when_attempted))}</a></td><td>${badge(l.result)}</td><td>${l.envelope_to.join(", ")}</td><td class="num">${l.retry_count}</td><td>${l.log_message}</td></tr>`)}
  </tbody></table>`;
}

export function registerMessages(app: Hono<ConsoleEnv>, deps: ConsoleDeps) {
  const { db } = deps;

  app.get("/messages", async (c) => {
    const filter = filterFrom((k) => c.req.query(k));
    const after = c.req.query("after");
    const cursor = after ? decodeCursor(after, filter.order) : null;
    const { rows, next } = await browseMessages(db.kysely, db.dialect, filter, filter.order, cursor, PAGE_SIZE);
    const now = deps.clock();
    const params = filterParams(filter);
    const session = c.get("session");
    const body = html`<h1>Messages</h1>
<nav class="tabs" aria-label="state">${STATES.map(
      ([value, label]) => html`<a href="${href("/messages", { ...params, status: value, order: "" })}"${(filter.status ?? "all") === value ? html` aria-current="page"` : ""}>${label}</a>`,
    )}</nav>
<form class="filters" method="get" action="/messages" role="search">
  <input type="hidden" name="status" value="${params.status}">
  <label>Search <input type="search" name="q" value="${filter.q}" placeholder="recipient, sender, subject or <Message-ID>" size="40"></label>
  ${select("priority", [["", "any"], ["high", "high"], ["medium", "medium"], ["low", "low"]], params.priority, "Priority")}
  ${select("order", ORDERS, filter.order, "Sort")}
  <button type="submit">Show</button>
</form>
<form method="post" action="/messages/actions">
  ${csrfField(session.csrf)}
  <input type="hidden" name="status" value="${params.status}"><input type="hidden" name="priority" value="${params.priority}"><input type="hidden" name="q" value="${filter.q}">
  <input type="hidden" name="back" value="${href("/messages", params)}">
  ${actionBar("", true)}
  ${rows.length === 0
    ? html`<p class="muted">No message matches.</p>`
    : html`<table class="messages">
  <thead><tr><th><input type="checkbox" data-select-all aria-label="tick every message on this page"></th><th class="num">id</th><th>state</th><th>priority</th><th>to</th><th>subject</th><th>from</th><th class="num">age</th><th class="num">retries</th><th>last error</th></tr></thead>
  <tbody>
  ${rows.map((m) => {
    const added = fromDbTime(m.when_added);
    return html`<tr>
    <td><input type="checkbox" name="ids" value="${m.id}" aria-label="message ${m.id}"></td>
    <td class="num"><a href="/messages/${m.id}">${m.id}</a></td>
    <td>${badge(m.status)}${m.claimed_by ? html` <span class="muted">sending</span>` : ""}</td>
    <td>${priorityName(m.priority)}</td>
    <td class="clip">${splitRecipients(m.envelope_to).join(", ")}</td>
    <td class="clip"><a href="/messages/${m.id}">${m.subject || "(no subject)"}</a></td>
    <td class="clip">${m.envelope_from}</td>
    <td class="num" title="${when(added)}">${age((now.getTime() - added.getTime()) / 1000)}</td>
    <td class="num">${m.retry_count}</td>
    <td class="clip" title="${m.last_error}">${m.last_error}</td>
  </tr>`;
  })}
  </tbody></table>`}
</form>
<p class="pager">${cursor ? html`<a href="${href("/messages", params)}">« first page</a>` : ""}${next ? html`<a rel="next" href="${href("/messages", { ...params, after: encodeCursor(next) })}">next page »</a>` : ""}</p>`;
    return c.html(page(pageContext(c, "Messages", "messages"), body));
  });

  app.get("/messages/:id", async (c) => {
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id <= 0) return c.notFound();
    const rows = await findMessages(db.kysely, { id });
    const shown = await showFound(db.kysely, { id }, rows, deps.clock());
    const message = shown.messages[0];
    const session = c.get("session");
    if (!message) {
      // Gone from the queue (sent, dropped or deleted): what the log kept of it.
      if (shown.log.length === 0) return c.notFound();
      const last = shown.log.at(-1)!;
      const data = await loggedMessageData(db.kysely, id);
      const body = html`<h1>Message ${id} <span class="muted">(left the queue)</span></h1>
<dl class="facts">
  <dt>last result</dt><dd>${badge(last.result)} at ${when(new Date(last.when_attempted))}</dd>
  <dt>Message-ID</dt><dd>${last.message_id ?? ""}</dd>
  <dt>recipients</dt><dd>${last.envelope_to.join(", ")}</dd>
  <dt>log message</dt><dd>${last.log_message}</dd>
</dl>
<h2>Attempts</h2>${historyTable(shown.log)}
${data ? await messageBody(data, `/messages/${id}`) : html`<p class="muted">The log did not keep the message text (delivery.log_message_data = false).</p>`}`;
      return c.html(page(pageContext(c, `Message ${id}`, "messages"), body));
    }
    const body = html`<h1>Message ${id} ${badge(message.status)}</h1>
<form method="post" action="/messages/actions">
  ${csrfField(session.csrf)}<input type="hidden" name="ids" value="${id}"><input type="hidden" name="back" value="/messages/${id}">
  ${actionBar("", false)}
</form>
<dl class="facts">
  <dt>subject</dt><dd>${message.subject}</dd>
  <dt>envelope from</dt><dd>${message.envelope_from}</dd>
  <dt>envelope to</dt><dd>${message.envelope_to.join(", ")}</dd>
  <dt>Message-ID</dt><dd>${message.message_id}</dd>
  <dt>priority</dt><dd>${message.priority}</dd>
  <dt>added</dt><dd>${when(new Date(message.when_added))}</dd>
  <dt>retries</dt><dd>${message.retry_count}</dd>
  <dt>next attempt</dt><dd>${message.next_attempt_at ? when(new Date(message.next_attempt_at)) : "when a pass reaches it"}${message.limited_by ? ` (waiting for the ${message.limited_by} limit)` : ""}</dd>
  <dt>expires</dt><dd>${message.expires_at ? when(new Date(message.expires_at)) : "never"}</dd>
  <dt>last error</dt><dd>${message.last_error || "–"}</dd>
  <dt>claim</dt><dd>${message.claim ? `${message.claim.by} until ${message.claim.until ?? "?"}${message.claim.live ? " (being sent)" : " (expired)"}` : "none"}</dd>
  <dt>size</dt><dd>${message.size_bytes} bytes</dd>
</dl>
<h2>Attempts</h2>${historyTable(shown.log)}
${await messageBody(rows[0]!.message_data, `/messages/${id}`)}`;
    return c.html(page(pageContext(c, `Message ${id}`, "messages"), body));
  });

  registerBodyRoutes(app, "/messages", async (_c, id) => {
    const [row] = await findMessages(db.kysely, { id });
    return row ? row.message_data : loggedMessageData(db.kysely, id);
  });

  app.post("/messages/actions", async (c) => {
    const body = await c.req.parseBody({ all: true });
    const field = (k: string) => {
      const v = body[k];
      return typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : undefined;
    };
    const back = /^\/messages(\/\d+)?(\?|$)/.test(field("back") ?? "") ? field("back")! : "/messages";
    const action = field("action") ?? "";
    if (!Object.hasOwn(ACTIONS, action)) return redirectWith(c, back, "error", `Unknown action ${JSON.stringify(action)}.`);
    const ids = ([] as unknown[]).concat(body.ids ?? []).map(Number).filter((n) => Number.isSafeInteger(n) && n > 0);
    const selection: Selection = field("scope") === "all" ? { filter: filterFrom(field) } : { ids: [...new Set(ids)] };
    let priority: Priority | null = null;
    if (action === "priority") {
      const p = field("new_priority") ?? "";
      if (!Object.hasOwn(PRIORITY, p)) return redirectWith(c, back, "error", "Choose high, medium or low.");
      priority = PRIORITY[p as keyof typeof PRIORITY];
    }
    if (action === "delete" && field("confirm") !== "yes") return c.html(confirmDelete(c, selection, body, back));
    const flash = await runAction(deps, action as ActionName, selection, priority);
    // A deleted message's own page is gone: back to the list.
    const to = action === "delete" && /^\/messages\/\d+$/.test(back) && flash.kind === "ok" ? "/messages" : back;
    c.get("session").flash = flash;
    return c.redirect(to, 303);
  });
}

/** Deleting is the one action that cannot be undone: a page that says what will go, and asks. */
function confirmDelete(c: ConsoleContext, selection: Selection, body: Record<string, unknown>, back: string) {
  const what =
    "ids" in selection
      ? `${selection.ids.length} ticked message(s)`
      : `every message matching state ${selection.filter.status ?? "any"}, priority ${selection.filter.priority ? priorityName(selection.filter.priority) : "any"}` +
        (selection.filter.q ? `, search “${selection.filter.q}”` : "");
  const fields = Object.entries(body).flatMap(([k, v]) => (k === "_csrf" ? [] : ([] as unknown[]).concat(v).filter((x): x is string => typeof x === "string").map((x) => [k, x] as const)));
  const content = html`<h1>Delete messages?</h1>
<p>This deletes ${what} from the queue. They will not be sent, and this cannot be undone.</p>
<form method="post" action="/messages/actions">
  ${csrfField(c.get("session").csrf)}
  ${fields.map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
  <input type="hidden" name="confirm" value="yes">
  <button class="danger" type="submit">Delete</button> <a href="${back}">Cancel</a>
</form>`;
  return page(pageContext(c, "Delete messages?", "messages"), content);
}
