// The console's HTTP application: security headers on every response, the login wall, CSRF checks on
// every state change, and the pages of each area (pages/). It reads and acts through the same
// db/queries and engine functions the CLI uses. The JSON API and the metrics will mount here too.
import { Hono, type Context as HonoContext } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Config } from "../config/types.ts";
import { classifyDatabaseError, type Database } from "../db/connect.ts";
import type { PassResult } from "../engine/pass.ts";
import { TempFailError, errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { CONSOLE_CSS, CONSOLE_JS } from "./assets.ts";
import { LoginThrottle, SESSION_COOKIE, Sessions, type Session } from "./auth.ts";
import { html, page } from "./html.ts";
import { registerDashboard } from "./pages/dashboard.ts";
import { registerDontSend } from "./pages/dont-send.ts";
import { registerLog } from "./pages/log.ts";
import { registerLogin, registerLogout } from "./pages/login.ts";
import { registerMessages } from "./pages/messages.ts";
import { createApi } from "./api/v1.ts";
import { problemResponse } from "./api/problem.ts";
import { TokenBook, allows } from "./api/tokens.ts";
import { registerHealth } from "./health.ts";
import { queueMetrics } from "./metrics/queue.ts";
import { PROMETHEUS_TEXT } from "./metrics/worker.ts";
import type { Queue } from "../queue/queue.ts";

export interface ConsoleDeps {
  db: Database;
  /** The enqueue path of the API (the library's Queue, with its own connection). */
  queue: Queue;
  config: Config;
  logger: Logger;
  clock: () => Date;
  /** Delivers these messages now: a pass restricted to them (django-mailer's "send selected now"). */
  sendNow(ids: number[]): Promise<PassResult>;
}

export type ConsoleEnv = { Bindings: { ip: string }; Variables: { session: Session } };
export type ConsoleContext = HonoContext<ConsoleEnv>;

/** The policy of every console page: scripts and styles from /assets only (no inline script, so an
 * injected <script> or onerror= cannot run even if escaping were ever missed), no framing by
 * other sites, forms posting only here. Message HTML gets a stricter one of its own (message-view.ts). */
const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "frame-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
].join("; ");

export function createConsole(deps: ConsoleDeps) {
  const { config, logger } = deps;
  const app = new Hono<ConsoleEnv>();
  const sessions = new Sessions(config.web.session_timeout * 1000);
  const throttle = new LoginThrottle();
  const loginRequired = config.web.password !== "";

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const h = c.res.headers;
    if (!h.has("Content-Security-Policy")) h.set("Content-Security-Policy", CSP);
    if (!h.has("X-Frame-Options")) h.set("X-Frame-Options", "DENY");
    h.set("X-Content-Type-Options", "nosniff");
    // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on form posts,
    // and the cross-site check below needs the real one. Other sites still learn nothing.
    h.set("Referrer-Policy", "same-origin");
    h.set("Cross-Origin-Opener-Policy", "same-origin");
    h.set("Cross-Origin-Resource-Policy", "same-origin");
    // Pages show mail: no shared cache keeps them, and Back after Log out does not show them again.
    if (!c.req.path.startsWith("/assets/")) h.set("Cache-Control", "no-store");
    const ms = performance.now() - started;
    // The time the page took here (browsers' dev tools and scripts/bench read it).
    h.set("Server-Timing", `app;dur=${ms.toFixed(1)}`);
    // Method and path only: a query may hold a search term, a body a password.
    logger.debug("web request", { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(ms), client: c.env.ip });
  });

  app.onError((error, c) => {
    const down = classifyDatabaseError(error, deps.db.displayUrl) instanceof TempFailError;
    logger.error(`web: ${c.req.method} ${c.req.path}: ${errorText(error)}`);
    const text = down ? "The database is unavailable; try again shortly." : "Something went wrong; the details are in mailer's log.";
    if (down) c.header("Retry-After", "5");
    return c.html(page({ title: "Error", area: "dashboard", user: null, csrf: null, flash: { kind: "error", text } }, html``), down ? 503 : 500);
  });

  app.get("/assets/console.css", (c) => c.body(CONSOLE_CSS, 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=31536000, immutable" }));
  app.get("/assets/console.js", (c) => c.body(CONSOLE_JS, 200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=31536000, immutable" }));

  const secure = (c: ConsoleContext) => new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
  const startSession = (c: ConsoleContext, user: string) => {
    const session = sessions.create(user);
    setCookie(c, SESSION_COOKIE, session.id, { httpOnly: true, sameSite: "Strict", path: "/", secure: secure(c) });
    return session;
  };

  // Machines' routes, before the console's login wall: health for probes, /metrics for Prometheus and
  // the API, both with bearer tokens (no cookie, so no cross-site request can borrow them).
  const tokens = new TokenBook(config.web.tokens_file);
  registerHealth(app, deps.db);
  const metrics = queueMetrics(deps.db, deps.clock);
  app.get("/metrics", async (c) => {
    // Counts only, no message text: open on a console without a password (loopback), else a token with scope read.
    if (loginRequired) {
      const { entry } = tokens.fromHeader(c.req.header("authorization"));
      if (!entry || !allows(entry.scope, "read")) {
        return problemResponse(c, { status: 401, slug: "missing-token", title: "Authentication required", detail: "/metrics needs a bearer token with scope read when [web] has a password" });
      }
    }
    return c.body(await metrics.metrics(), 200, { "Content-Type": PROMETHEUS_TEXT });
  });
  app.route("/api/v1", createApi({ ...deps, tokens }));

  // Every POST must come from a page of ours: a cross-site form carries another Origin (the CSRF token
  // below is the second fence; SameSite=Strict the third).
  app.use(async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const origin = c.req.header("origin");
      if (origin !== undefined && origin !== new URL(c.req.url).origin && !sameHostBehindProxy(origin, c)) {
        logger.warn("web: refused a cross-site request", { path: c.req.path, origin, client: c.env.ip });
        return c.text("Forbidden: cross-site request", 403);
      }
    }
    await next();
  });

  const loginDeps = {
    loginRequired,
    user: config.web.user,
    password: config.web.password,
    throttle,
    logger,
    sessions,
    startSession,
    endSession: (c: ConsoleContext) => {
      const id = getCookie(c, SESSION_COOKIE);
      if (id) sessions.end(id);
      deleteCookie(c, SESSION_COOKIE, { path: "/" });
    },
  };
  registerLogin(app, loginDeps);

  // The login wall. Without a password (loopback only) a visitor gets a session on first sight, so
  // that the CSRF token protects its forms all the same.
  app.use(async (c, next) => {
    let session = sessions.get(getCookie(c, SESSION_COOKIE));
    if (!session) {
      if (loginRequired || c.req.method !== "GET") {
        if (c.req.method === "GET") return c.redirect(`/login?next=${encodeURIComponent(c.req.path + new URL(c.req.url).search)}`, 303);
        return c.text("Unauthorized: log in first", 401);
      }
      session = startSession(c, "local");
    }
    c.set("session", session);
    if (c.req.method === "POST") {
      const body = await c.req.parseBody({ all: true });
      const given = c.req.header("x-csrf-token") ?? (typeof body._csrf === "string" ? body._csrf : "");
      if (!given || given !== session.csrf) {
        logger.warn("web: refused a request without a valid CSRF token", { path: c.req.path, client: c.env.ip });
        return c.text("Forbidden: missing or wrong CSRF token (reload the page and try again)", 403);
      }
    }
    await next();
  });

  registerLogout(app, loginDeps);
  registerDashboard(app, deps);
  registerMessages(app, deps);
  registerLog(app, deps);
  registerDontSend(app, deps);
  app.notFound((c) => c.html(page({ title: "Not found", area: "dashboard", user: null, csrf: null, flash: { kind: "error", text: "No such page." } }, html``), 404));
  return app;
}

/** Behind a reverse proxy the request URL is the proxy's upstream; the browser's Origin is the
 * public name, which the proxy passes on as Host / X-Forwarded-Host. */
function sameHostBehindProxy(origin: string, c: ConsoleContext): boolean {
  const host = c.req.header("x-forwarded-host") ?? c.req.header("host");
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The session's one-shot message, taken for the page being shown. */
export function takeFlash(c: ConsoleContext) {
  const session = c.get("session");
  const flash = session.flash;
  session.flash = null;
  return flash;
}

export function redirectWith(c: ConsoleContext, to: string, kind: "ok" | "error", text: string) {
  c.get("session").flash = { kind, text };
  return c.redirect(to, 303);
}

/** The common parts of a page for this request. */
export const pageContext = (c: ConsoleContext, title: string, area: "dashboard" | "messages" | "log" | "dont-send") => ({
  title,
  area,
  user: c.get("session").user,
  csrf: c.get("session").csrf,
  flash: takeFlash(c),
});
