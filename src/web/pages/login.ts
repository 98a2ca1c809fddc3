// GET/POST /login and POST /logout. A wrong password is answered like a wrong user (no hint which),
// and after a few from one address the next attempts are refused for a while (auth.ts). The
// password is never logged: failures log the user name tried and the client address only.
import type { Hono } from "hono";
import type { Logger } from "../../log.ts";
import { LoginThrottle, sameSecret, type Session, type Sessions } from "../auth.ts";
import { csrfField, html, page } from "../html.ts";
import type { ConsoleContext, ConsoleEnv } from "../server.ts";

export interface LoginDeps {
  loginRequired: boolean;
  user: string;
  password: string;
  throttle: LoginThrottle;
  sessions: Sessions;
  logger: Logger;
  startSession(c: ConsoleContext, user: string): Session;
  endSession(c: ConsoleContext): void;
}

/** Only a path on this site: an open redirect would make the login form a phishing tool. */
const safeNext = (next: unknown) => (typeof next === "string" && /^\/(?![/\\])/.test(next) ? next : "/");

function loginPage(next: string, error: string | null, status?: string) {
  return page(
    { title: "Log in", area: "login", user: null, csrf: null, flash: error ? { kind: "error", text: error } : status ? { kind: "ok", text: status } : null },
    html`<form class="login" method="post" action="/login">
  <h1>Log in</h1>
  <input type="hidden" name="next" value="${next}">
  <label>User <input type="text" name="user" autocomplete="username" required autofocus></label>
  <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
  <button class="primary" type="submit">Log in</button>
</form>`,
  );
}

export function registerLogin(app: Hono<ConsoleEnv>, deps: LoginDeps) {
  app.get("/login", (c) => {
    if (!deps.loginRequired) return c.redirect("/", 303);
    return c.html(loginPage(safeNext(c.req.query("next")), null, c.req.query("out") ? "Logged out." : undefined));
  });

  app.post("/login", async (c) => {
    if (!deps.loginRequired) return c.redirect("/", 303);
    const body = await c.req.parseBody();
    const next = safeNext(body.next);
    const client = c.env.ip || "unknown";
    const wait = deps.throttle.waitFor(client);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      deps.logger.warn("web: login refused, too many failures from this address", { client, retry_after_s: seconds });
      c.header("Retry-After", String(seconds));
      return c.html(loginPage(next, `Too many failed logins from your address. Try again in ${seconds} s.`), 429);
    }
    const user = typeof body.user === "string" ? body.user : "";
    const password = typeof body.password === "string" ? body.password : "";
    // Both compared, always: the time taken says nothing about which one was wrong.
    const userOk = sameSecret(user, deps.user);
    const passwordOk = sameSecret(password, deps.password);
    if (!(userOk && passwordOk)) {
      deps.throttle.failed(client);
      deps.logger.warn("web: failed login", { user, client });
      return c.html(loginPage(next, "Wrong user or password."), 401);
    }
    deps.throttle.succeeded(client);
    deps.startSession(c, user);
    deps.logger.info("web: logged in", { user, client });
    return c.redirect(next, 303);
  });
}

/** POST /logout: registered behind the login wall, so it needs the CSRF token like every change. */
export function registerLogout(app: Hono<ConsoleEnv>, deps: Pick<LoginDeps, "endSession" | "loginRequired">) {
  app.post("/logout", (c) => {
    deps.endSession(c);
    return c.redirect(deps.loginRequired ? "/login?out=1" : "/", 303);
  });
}
