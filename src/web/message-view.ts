// A stored message as the console shows it: headers and text part as escaped text, the HTML part in
// a sandboxed frame of its own, attachments as downloads. Message text is attacker-controlled, so:
// - the HTML part is served with a policy that runs no script and loads nothing from anywhere
//   (`sandbox`, `default-src 'none'`, images only as data: URLs): no tracking pixel fires;
// - the frame is sandboxed as well (no scripts, no same-origin, no forms, no top navigation);
// - an attachment is always a download (application/octet-stream, Content-Disposition: attachment,
//   nosniff), never rendered by the browser on our origin.
import type { Hono } from "hono";
import { simpleParser, type ParsedMail } from "mailparser";
import { headerBlock } from "../ops/show-view.ts";
import { html, type Html } from "./html.ts";
import type { ConsoleContext, ConsoleEnv } from "./server.ts";

const MESSAGE_HTML_CSP = [
  "sandbox", "default-src 'none'", "style-src 'unsafe-inline'", "img-src data:", "font-src data:", "frame-ancestors 'self'", "base-uri 'none'", "form-action 'none'",
].join("; ");

export async function parseStored(data: Uint8Array): Promise<ParsedMail> {
  return simpleParser(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { skipImageLinks: true, skipTextToHtml: true });
}

/** Headers, text, the HTML frame and the attachments of one stored message; `base` is the URL the
 * HTML part and the attachments hang under (/messages/42 or /log/7). */
export async function messageBody(data: Uint8Array, base: string): Promise<Html> {
  const parsed = await parseStored(data);
  const attachments = parsed.attachments ?? [];
  return html`<h2>Headers</h2>
<pre class="headers">${headerBlock(data)}</pre>
<h2>Text</h2>
${parsed.text ? html`<pre class="text">${parsed.text}</pre>` : html`<p class="muted">No text part.</p>`}
<h2>HTML</h2>
${parsed.html
  ? html`<p class="muted">Shown with scripts and remote content blocked.</p>
<iframe class="preview" title="HTML part" sandbox="" referrerpolicy="no-referrer" src="${base}/html"></iframe>`
  : html`<p class="muted">No HTML part.</p>`}
<h2>Attachments</h2>
${attachments.length === 0
  ? html`<p class="muted">None.</p>`
  : html`<table><thead><tr><th>file</th><th>type</th><th class="num">bytes</th></tr></thead><tbody>
    ${attachments.map((a, i) => html`<tr><td><a href="${base}/attachments/${i}" download>${a.filename || `attachment-${i + 1}`}</a></td><td>${a.contentType}</td><td class="num">${a.size}</td></tr>`)}
  </tbody></table>`}`;
}

/** GET {prefix}/:id/html and {prefix}/:id/attachments/:n for messages that `load` finds. */
export function registerBodyRoutes(app: Hono<ConsoleEnv>, prefix: string, load: (c: ConsoleContext, id: number) => Promise<Uint8Array | null>) {
  const find = async (c: ConsoleContext) => {
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id <= 0) return null;
    const data = await load(c, id);
    return data ? parseStored(data) : null;
  };

  app.get(`${prefix}/:id/html`, async (c) => {
    const parsed = await find(c);
    if (!parsed || !parsed.html) return c.text("No HTML part", 404);
    return c.body(parsed.html, 200, {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": MESSAGE_HTML_CSP,
      // Framed by our own message page only.
      "X-Frame-Options": "SAMEORIGIN",
    });
  });

  app.get(`${prefix}/:id/attachments/:n`, async (c) => {
    const parsed = await find(c);
    const attachment = parsed?.attachments?.[Number(c.req.param("n"))];
    if (!attachment) return c.text("No such attachment", 404);
    const name = attachment.filename || `attachment-${Number(c.req.param("n")) + 1}`;
    return c.body(new Uint8Array(attachment.content), 200, {
      "Content-Type": "application/octet-stream",
      "Content-Disposition": contentDisposition(name),
      "Content-Security-Policy": "sandbox; default-src 'none'",
    });
  });
}

/** RFC 6266: an ASCII fallback, and the real name in filename* (RFC 8187). */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (ch) => "%" + ch.charCodeAt(0).toString(16).toUpperCase())}`;
}
