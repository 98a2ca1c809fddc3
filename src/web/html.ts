// Page pieces shared by every console page. Every value goes through hono/html's `html` tag, which
// escapes what it interpolates: message text is attacker-controlled, so nothing from a message is
// ever passed through `raw`.
import { html, raw } from "hono/html";
import { ASSET_VERSION } from "./assets.ts";

export type Html = ReturnType<typeof html>;
export { html, raw };

export interface PageContext {
  title: string;
  /** The nav entry to highlight. */
  area: "dashboard" | "messages" | "log" | "dont-send" | "login";
  user: string | null;
  csrf: string | null;
  flash?: Flash | null;
  /** Seconds: the page reloads itself (the dashboard), without JavaScript. */
  refresh?: number;
}

export interface Flash {
  kind: "ok" | "error";
  text: string;
}

const NAV: Array<[PageContext["area"], string, string]> = [
  ["dashboard", "/", "Dashboard"],
  ["messages", "/messages", "Messages"],
  ["log", "/log", "Log"],
  ["dont-send", "/dont-send", "Don't send"],
];

export function page(ctx: PageContext, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${ctx.refresh ? html`<meta http-equiv="refresh" content="${ctx.refresh}">` : ""}
<title>${ctx.title} · mailer</title>
<link rel="stylesheet" href="/assets/console.css?v=${ASSET_VERSION}">
<script src="/assets/console.js?v=${ASSET_VERSION}" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/">mailer</a>
  ${ctx.area === "login" ? "" : html`<nav>${NAV.map(([area, href, label]) => html`<a href="${href}"${area === ctx.area ? raw(' aria-current="page"') : ""}>${label}</a>`)}</nav>`}
  ${ctx.user !== null && ctx.csrf !== null && ctx.area !== "login"
    ? html`<form class="logout" method="post" action="/logout">${csrfField(ctx.csrf)}<span>${ctx.user}</span> <button type="submit">Log out</button></form>`
    : ""}
</header>
<main>
${ctx.flash ? html`<p class="flash ${ctx.flash.kind}" role="status">${ctx.flash.text}</p>` : ""}
${body}
</main>
</body>
</html>`;
}

export const csrfField = (token: string) => html`<input type="hidden" name="_csrf" value="${token}">`;

/** A link to `path` with `params` (empty ones left out). */
export function href(path: string, params: Record<string, string | number | null | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** "3 s", "4 min", "2 h", "5 d". */
export function age(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export const when = (date: Date) => date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");

/** A <select> whose options are [value, label] pairs. */
export function select(name: string, options: Array<[string, string]>, chosen: string, label: string): Html {
  return html`<label>${label} <select name="${name}">${options.map(
    ([value, text]) => html`<option value="${value}"${value === chosen ? raw(" selected") : ""}>${text}</option>`,
  )}</select></label>`;
}
