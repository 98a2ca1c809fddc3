// The don't-send list: GET /dont-send, POST /dont-send/add, POST /dont-send/remove. The same
// statements (and the same address check) as `mailer dont-send`.
import type { Hono } from "hono";
import { fromDbTime } from "../../db/dialect.ts";
import { addDontSend, listDontSend, removeDontSend } from "../../db/queries/dont-send.ts";
import { errorText } from "../../errors.ts";
import { singleAddress } from "../../queue/address.ts";
import { csrfField, html, page, when } from "../html.ts";
import { pageContext, redirectWith, type ConsoleDeps, type ConsoleEnv } from "../server.ts";

export function registerDontSend(app: Hono<ConsoleEnv>, deps: ConsoleDeps) {
  const { db } = deps;

  app.get("/dont-send", async (c) => {
    const entries = await listDontSend(db.kysely);
    const csrf = c.get("session").csrf;
    const body = html`<h1>Don't-send list</h1>
<p class="muted">Mail to these addresses is never sent: it is dropped when queued and again at send time, and logged as don't-send.</p>
<form class="actions" method="post" action="/dont-send/add">
  ${csrfField(csrf)}
  <label>Address <input type="text" name="address" required size="40" placeholder="bounced@example.com"></label>
  <button class="primary" type="submit">Add</button>
</form>
${entries.length === 0
  ? html`<p class="muted">The list is empty.</p>`
  : html`<table class="dont-send"><thead><tr><th>address</th><th>added</th><th></th></tr></thead><tbody>
  ${entries.map((e) => html`<tr><td>${e.to_address}</td><td>${when(fromDbTime(e.when_added))}</td><td>
    <form method="post" action="/dont-send/remove">${csrfField(csrf)}<input type="hidden" name="address" value="${e.to_address}"><button type="submit">Remove</button></form>
  </td></tr>`)}
  </tbody></table>`}`;
    return c.html(page(pageContext(c, "Don't send", "dont-send"), body));
  });

  for (const action of ["add", "remove"] as const) {
    app.post(`/dont-send/${action}`, async (c) => {
      const body = await c.req.parseBody();
      let address: string;
      try {
        address = singleAddress(String(body.address ?? ""));
      } catch (error) {
        return redirectWith(c, "/dont-send", "error", errorText(error));
      }
      const changed = action === "add" ? await addDontSend(db.kysely, address) : await removeDontSend(db.kysely, address);
      deps.logger.info(`web: don't-send ${action}`, { address, changed });
      const text = action === "add" ? (changed ? `Added ${address}.` : `${address} was listed already.`) : changed ? `Removed ${address}.` : `${address} was not listed.`;
      return redirectWith(c, "/dont-send", changed ? "ok" : "error", text);
    });
  }
}
