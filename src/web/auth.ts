// Who may use the console: a login form, a session cookie, CSRF tokens and slowed-down guessing.
// Sessions live in this process's memory (a restart logs everyone out, which is also how a
// password change takes effect); the cookie carries only a random session id.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Flash } from "./html.ts";

export interface Session {
  id: string;
  user: string;
  /** Every state-changing form carries it back (the double check against cross-site requests). */
  csrf: string;
  lastSeen: number;
  /** One message for the next page (a redirect after a POST). */
  flash: Flash | null;
}

export const SESSION_COOKIE = "mailer_session";
const MAX_SESSIONS = 10_000;

const token = () => randomBytes(32).toString("base64url");

export class Sessions {
  readonly #sessions = new Map<string, Session>();
  constructor(
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: string): Session {
    this.#sweep();
    // Without a password every cookieless visit (a health probe, a script) starts a session: the
    // least recently created go first rather than memory growing without end.
    for (const id of this.#sessions.keys()) {
      if (this.#sessions.size < MAX_SESSIONS) break;
      this.#sessions.delete(id);
    }
    const session: Session = { id: token(), user, csrf: token(), lastSeen: this.now(), flash: null };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id (its idle clock restarted), or null. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const session = this.#sessions.get(id);
    if (!session) return null;
    if (this.now() - session.lastSeen > this.timeoutMs) {
      this.#sessions.delete(id);
      return null;
    }
    session.lastSeen = this.now();
    return session;
  }

  end(id: string): void {
    this.#sessions.delete(id);
  }

  #lastSweep = 0;

  /** At most once a minute: a cookieless visit creates a session each time, and a full walk per
   * visit would make that O(sessions). */
  #sweep(): void {
    const now = this.now();
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    for (const [id, s] of this.#sessions) if (now - s.lastSeen > this.timeoutMs) this.#sessions.delete(id);
  }
}

/** Compared in constant time (both sides hashed first, so their lengths do not leak either). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** After FREE_FAILURES wrong passwords from one client address, each further attempt must wait:
 * 2 s after the third failure, doubling with each one after, up to 5 minutes. A success clears it. */
export const FREE_FAILURES = 3;
const MAX_WAIT_MS = 300_000;

export class LoginThrottle {
  readonly #clients = new Map<string, { failures: number; until: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds this client must still wait before its next attempt is even checked (0 = go). */
  waitFor(client: string): number {
    const entry = this.#clients.get(client);
    return entry ? Math.max(0, entry.until - this.now()) : 0;
  }

  failed(client: string): void {
    const entry = this.#clients.get(client) ?? { failures: 0, until: 0 };
    entry.failures++;
    if (entry.failures >= FREE_FAILURES) entry.until = this.now() + Math.min(MAX_WAIT_MS, 2000 * 2 ** (entry.failures - FREE_FAILURES));
    this.#clients.set(client, entry);
    // A scan of many addresses must not grow the map without end.
    if (this.#clients.size > 10_000) {
      for (const [key, e] of this.#clients) if (e.until < this.now()) this.#clients.delete(key);
    }
  }

  succeeded(client: string): void {
    this.#clients.delete(client);
  }
}
