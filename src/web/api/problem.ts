// Errors as application/problem+json (RFC 9457). `type` names the kind of problem (docs/api.md lists
// them); `detail` says what was wrong with this request.
import type { Context } from "hono";
import { classifyDatabaseError } from "../../db/connect.ts";
import { DataError, TempFailError, TooLargeError, UsageError } from "../../errors.ts";

export interface Problem {
  status: number;
  slug: string;
  title: string;
  detail: string;
  /** Extension members (RFC 9457 §3.2). */
  extra?: Record<string, unknown>;
}

export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }
}

export const problem = (status: number, slug: string, title: string, detail: string, extra?: Record<string, unknown>) =>
  new ProblemError({ status, slug, title, detail, extra });

export function problemResponse(c: Context, p: Problem): Response {
  const body = { type: `/api/v1/problems/${p.slug}`, title: p.title, status: p.status, detail: p.detail, instance: c.req.path, ...p.extra };
  const headers: Record<string, string> = { "Content-Type": "application/problem+json" };
  if (p.status === 503) headers["Retry-After"] = "5";
  if (p.status === 401) headers["WWW-Authenticate"] = 'Bearer realm="mailer"';
  return new Response(JSON.stringify(body), { status: p.status, headers });
}

/** Any error thrown by a route, as the problem it is. */
export function asProblem(error: unknown, databaseUrl: string): Problem {
  if (error instanceof ProblemError) return error.problem;
  if (error instanceof TooLargeError) return { status: 413, slug: "too-large", title: "Message too large", detail: error.message };
  if (error instanceof DataError) return { status: 422, slug: "invalid-message", title: "Invalid message", detail: error.message };
  if (error instanceof UsageError) return { status: 400, slug: "bad-request", title: "Bad request", detail: error.message };
  const classified = classifyDatabaseError(error, databaseUrl);
  if (classified instanceof TempFailError) {
    return { status: 503, slug: "database-unavailable", title: "Database unavailable", detail: "the queue's database is unavailable; try again shortly" };
  }
  // The details go to mailer's log (the route's onError), not to the client.
  return { status: 500, slug: "internal", title: "Internal error", detail: "unexpected error; mailer's log has the details" };
}
