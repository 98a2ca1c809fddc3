// The JSON API under /api/v1 (docs/api.md; the OpenAPI document is openapi.ts). Bearer tokens with a
// scope (tokens.ts); errors as problem+json (problem.ts). Enqueueing goes through Queue.enqueueMany,
// the library's own path, so every intake rule applies (size, validation, aliases and default domain,
// the don't-send list); the other routes use the statements the CLI and the console use.
import { Hono, type Context } from "hono";
import type { SendMailOptions } from "nodemailer";
import { browseMessages, type MessageOrder } from "../../db/queries/browse.ts";
import { addDontSend, listDontSend, removeDontSend } from "../../db/queries/dont-send.ts";
import { findMessages } from "../../db/queries/inspect.ts";
import { requeueFailed } from "../../db/queries/maintenance.ts";
import { deleteMessages } from "../../db/queries/operator.ts";
import { fromDbTime } from "../../db/dialect.ts";
import type { MessageStatus } from "../../db/schema.ts";
import { DataError, TooLargeError } from "../../errors.ts";
import { GroupCommit } from "../../queue/group-commit.ts";
import { listedMessage } from "../../ops/list-view.ts";
import { showMessage } from "../../ops/show-view.ts";
import { statusReport } from "../../ops/status-report.ts";
import { singleAddress } from "../../queue/address.ts";
import { PRIORITY, parsePriority, priorityName } from "../../queue/priority.ts";
import { checkIdempotencyKey, scheduleFrom, type ScheduleInput } from "../../queue/schedule.ts";
import { isRawMail, type MailInput, type Queue } from "../../queue/queue.ts";
import type { ConsoleDeps } from "../server.ts";
import { decodeCursor, encodeCursor } from "../cursor.ts";
import { OPENAPI } from "./openapi.ts";
import { asProblem, problem, problemResponse } from "./problem.ts";
import { allows, type Scope, type TokenBook, type TokenEntry } from "./tokens.ts";

type ApiEnv = { Bindings: { ip: string }; Variables: { token: TokenEntry } };

export interface ApiDeps extends ConsoleDeps {
  queue: Queue;
  tokens: TokenBook;
}

const MAX_LIST = 500;
const SCHEDULE_FIELDS = ["send_at", "expires_at", "idempotency_key"];
const STRUCTURED_FIELDS = new Set([
  "from", "to", "cc", "bcc", "reply_to", "subject", "text", "html", "attachments", "headers", "priority", "message_id", ...SCHEDULE_FIELDS,
]);
const RAW_FIELDS = new Set(["raw", "envelope", "priority", ...SCHEDULE_FIELDS]);

export function createApi(deps: ApiDeps) {
  const { db, config, logger } = deps;
  const api = new Hono<ApiEnv>();
  const commits = new GroupCommit(deps.queue);

  api.onError((error, c) => {
    const p = asProblem(error, db.displayUrl);
    if (p.status >= 500) logger.error(`api: ${c.req.method} ${c.req.path}: ${error instanceof Error ? error.message : String(error)}`);
    return problemResponse(c, p);
  });
  api.notFound((c) => problemResponse(c, { status: 404, slug: "not-found", title: "Not found", detail: `no route ${c.req.method} ${c.req.path}` }));

  api.get("/openapi.json", (c) => c.json(OPENAPI));

  /** The route needs a token with this scope (admin holds every scope). */
  const need = (scope: Scope) => async (c: Context<ApiEnv>, next: () => Promise<void>) => {
    const { given, entry } = deps.tokens.fromHeader(c.req.header("authorization"));
    if (!given) throw problem(401, "missing-token", "Authentication required", "send Authorization: Bearer <token> (mailer web token add NAME --scope " + scope + ")");
    if (!entry) {
      logger.warn("api: refused an unknown token", { client: c.env.ip, path: c.req.path });
      throw problem(401, "bad-token", "Authentication failed", "the bearer token is not known (revoked, or mistyped)");
    }
    if (!allows(entry.scope, scope)) throw problem(403, "insufficient-scope", "Not allowed", `token ${entry.name} has scope ${entry.scope}; this needs ${scope}`);
    c.set("token", entry);
    await next();
  };

  api.post("/messages", need("send"), async (c) => {
    const batch = config.delivery.enqueue_batch_size;
    const limit = config.queue.max_size * 2 * Math.min(batch, 4) + 1024 * 1024;
    const length = Number(c.req.header("content-length") ?? "0");
    if (length > limit) throw problem(413, "too-large", "Request too large", `the request body is ${length} bytes; at most ${limit}`);
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    let mails: MailInput[];
    let single: boolean;
    if (type === "message/rfc822") {
      const raw = new Uint8Array(await c.req.arrayBuffer());
      if (raw.byteLength > limit) throw problem(413, "too-large", "Request too large", `the request body is over ${limit} bytes`);
      const to = c.req.queries("to") ?? [];
      const from = c.req.query("from");
      mails = [{
        raw,
        envelope: to.length > 0 || from !== undefined ? { ...(to.length ? { to } : {}), ...(from !== undefined ? { from } : {}) } : undefined,
        ...scheduleFields({ send_at: c.req.query("send_at"), expires_at: c.req.query("expires_at"), idempotency_key: c.req.query("idempotency_key") }, ""),
      }];
      const priority = c.req.query("priority");
      if (priority !== undefined) mails = [withPriority(mails[0]!, priority)];
      single = true;
    } else if (type === "application/json") {
      const text = await c.req.text();
      if (text.length > limit) throw problem(413, "too-large", "Request too large", `the request body is over ${limit} bytes`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        throw problem(400, "invalid-json", "Invalid JSON", `the body is not JSON: ${(error as Error).message}`);
      }
      single = !Array.isArray(body);
      const list = Array.isArray(body) ? body : [body];
      if (list.length === 0) throw problem(422, "invalid-message", "Invalid message", "an empty array: nothing to queue");
      if (list.length > batch) {
        throw problem(413, "batch-too-large", "Too many messages", `${list.length} messages in one request; at most ${batch} (delivery.enqueue_batch_size)`);
      }
      mails = list.map((m, i) => mailFromJson(m, list.length > 1 ? `message ${i}: ` : ""));
    } else {
      throw problem(415, "unsupported-media-type", "Unsupported media type", "send application/json (one message or an array) or message/rfc822 (a complete message)");
    }
    // The Idempotency-Key request header (as payment APIs take it) names a single message's key.
    const keyHeader = c.req.header("idempotency-key");
    if (keyHeader !== undefined) {
      if (!single) throw problem(400, "bad-request", "Bad request", "Idempotency-Key names one message; in an array give each its idempotency_key");
      const given = (mails[0] as { idempotencyKey?: string }).idempotencyKey;
      const key = checkIdempotencyKey(keyHeader, "Idempotency-Key header");
      if (given !== undefined && given !== key) throw problem(400, "bad-request", "Bad request", "the Idempotency-Key header and idempotency_key differ");
      mails = [{ ...mails[0]!, idempotencyKey: key }];
    }
    // All or nothing: every message is checked before any is inserted, and one transaction (shared
    // with the requests arriving meanwhile) inserts them.
    const prepared = [];
    for (const [i, mail] of mails.entries()) {
      try {
        // A raw message needs no composing: prepared without an await per message (a batch holds 500).
        prepared.push(isRawMail(mail) ? deps.queue.prepareRaw(mail) : await deps.queue.prepare(mail));
      } catch (error) {
        if (mails.length > 1 && error instanceof DataError) throw new (error instanceof TooLargeError ? TooLargeError : DataError)(`message ${i}: ${error.message}`);
        throw error;
      }
    }
    const outcomes = await commits.enqueue(prepared);
    if (single && outcomes[0]!.id === null) {
      throw problem(422, "all-recipients-suppressed", "Every recipient is on the don't-send list", `not queued: ${outcomes[0]!.suppressed.join(", ")}`);
    }
    const token = c.get("token");
    // debug, not info: at thousands of requests a second an info line each would be the log.
    logger.debug("api: queued", { token: token.name, messages: outcomes.filter((o) => o.id !== null).length, client: c.env.ip });
    const messages = outcomes.map((o) => ({
      id: o.id, message_id: o.messageId, envelope_from: o.envelopeFrom, recipients: o.recipients, suppressed: o.suppressed,
      priority: priorityName(o.priority), ...(o.duplicate ? { duplicate: true } : {}),
    }));
    if (single) c.header("Location", `/api/v1/messages/${outcomes[0]!.id}`);
    // 201 when something was queued; 200 when every message was queued before (its idempotency key
    // was seen): a retried request gets the same answer, and the ids of the first.
    return c.json({ messages }, outcomes.every((o) => o.duplicate) ? 200 : 201);
  });

  api.get("/messages", need("read"), async (c) => {
    const state = c.req.query("state") ?? "";
    if (state && !["queued", "deferred", "failed"].includes(state)) throw problem(400, "bad-request", "Bad request", "state must be queued, deferred or failed");
    const priority = c.req.query("priority") ?? "";
    if (priority && !Object.hasOwn(PRIORITY, priority)) throw problem(400, "bad-request", "Bad request", "priority must be high, medium or low");
    const order = (c.req.query("order") ?? (state ? "queue" : "oldest")) as MessageOrder;
    if (!["queue", "oldest", "newest"].includes(order)) throw problem(400, "bad-request", "Bad request", "order must be queue, oldest or newest");
    const limit = Number(c.req.query("limit") ?? 50);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) throw problem(400, "bad-request", "Bad request", `limit must be 1 to ${MAX_LIST}`);
    const cursorText = c.req.query("cursor");
    const cursor = cursorText ? decodeCursor(cursorText, order) : null;
    if (cursorText && !cursor) {
      throw problem(400, "bad-cursor", "Bad cursor", "cursor is not one this API gave (take next_cursor from the previous page, with the same order)");
    }
    const page = await browseMessages(
      db.kysely, db.dialect,
      { status: (state || null) as MessageStatus | null, priority: priority ? PRIORITY[priority as keyof typeof PRIORITY] : null, q: c.req.query("q") ?? "" },
      order, cursor, limit,
    );
    const now = deps.clock();
    return c.json({
      messages: page.rows.map((r) => ({ ...listedMessage(r, now), envelope_from: r.envelope_from, claimed: r.claimed_by !== null && r.lease_until !== null && fromDbTime(r.lease_until) > now })),
      next_cursor: page.next ? encodeCursor(page.next) : null,
    });
  });

  const idParam = (c: Context<ApiEnv>) => {
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id <= 0) throw problem(404, "not-found", "Not found", `no message ${c.req.param("id")}`);
    return id;
  };

  api.get("/messages/:id", need("read"), async (c) => {
    const id = idParam(c);
    const shown = await showMessage(db.kysely, { id }, deps.clock());
    if (shown.messages.length === 0 && shown.log.length === 0) throw problem(404, "not-found", "Not found", `no message ${id} in the queue or the log`);
    return c.json({ message: shown.messages[0] ?? null, log: shown.log });
  });

  api.post("/messages/:id/retry", need("admin"), async (c) => {
    const id = idParam(c);
    const moved = await requeueFailed(db, { ids: [id], messageIds: [] }, ["deferred", "failed"]);
    if (moved.length === 0) {
      const [row] = await findMessages(db.kysely, { id });
      if (!row) throw problem(404, "not-found", "Not found", `no message ${id} in the queue`);
      throw problem(409, "not-retryable", "Not deferred or failed", `message ${id} is ${row.status}: only deferred and failed messages are retried`);
    }
    logger.info("api: retried", { token: c.get("token").name, id });
    return c.json({ id, status: "queued" });
  });

  api.delete("/messages/:id", need("admin"), async (c) => {
    const id = idParam(c);
    const { deleted, busy } = await deleteMessages(db, [id], deps.clock());
    if (busy > 0) throw problem(409, "being-sent", "Being sent", `message ${id} is being sent right now (a worker holds it); try again once it is done`);
    if (deleted === 0) throw problem(404, "not-found", "Not found", `no message ${id} in the queue`);
    logger.info("api: deleted", { token: c.get("token").name, id });
    return c.body(null, 204);
  });

  api.get("/status", need("read"), async (c) => c.json(await statusReport(db, config, deps.clock())));

  api.get("/dont-send", need("read"), async (c) => {
    const rows = await listDontSend(db.kysely);
    return c.json({ addresses: rows.map((r) => ({ address: r.to_address, when_added: fromDbTime(r.when_added).toISOString() })) });
  });

  const addressFrom = async (c: Context<ApiEnv>) => {
    let address = c.req.query("address") ?? c.req.param("address");
    if (address === undefined && c.req.method === "POST") {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw problem(400, "invalid-json", "Invalid JSON", 'send {"address": "…"}');
      }
      address = (body as { address?: unknown })?.address as string | undefined;
    }
    if (typeof address !== "string") throw problem(422, "invalid-address", "Invalid address", 'expected {"address": "someone@example.com"}');
    try {
      return singleAddress(address);
    } catch (error) {
      throw problem(422, "invalid-address", "Invalid address", (error as Error).message);
    }
  };

  api.post("/dont-send", need("admin"), async (c) => {
    const address = await addressFrom(c);
    const added = await addDontSend(db.kysely, address);
    return c.json({ address, added }, added ? 201 : 200);
  });

  const remove = async (c: Context<ApiEnv>) => {
    const address = await addressFrom(c);
    if (!(await removeDontSend(db.kysely, address))) throw problem(404, "not-found", "Not found", `${address} is not on the don't-send list`);
    return c.body(null, 204);
  };
  api.delete("/dont-send", need("admin"), remove);
  api.delete("/dont-send/:address", need("admin"), remove);

  return api;
}

/** The priority as the documented header, which every enqueue path reads (and removes before sending). */
function withPriority(mail: MailInput, value: unknown): MailInput {
  const name = priorityName(parsePriority(value as string, "priority"));
  if ("raw" in mail && mail.raw !== undefined && (typeof mail.raw === "string" || mail.raw instanceof Uint8Array)) {
    const prefix = Buffer.from(`X-Mailer-Priority: ${name}\r\n`);
    return { ...mail, raw: Buffer.concat([prefix, Buffer.from(mail.raw as Uint8Array | string)]) } as MailInput;
  }
  const m = mail as SendMailOptions;
  return { ...m, headers: { ...(m.headers as Record<string, string> | undefined), "X-Mailer-Priority": name } };
}

const isStringList = (v: unknown) => typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string"));

/** One message of a JSON request, checked field by field (a typo is an error, not a silent drop). */
export function mailFromJson(value: unknown, where: string): MailInput {
  const fail = (text: string): never => {
    throw new DataError(`${where}${text}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("expected a JSON object");
  const m = value as Record<string, unknown>;
  const raw = "raw" in m;
  for (const key of Object.keys(m)) {
    if (!(raw ? RAW_FIELDS : STRUCTURED_FIELDS).has(key)) fail(raw ? `"${key}" cannot be given with "raw" (only envelope, priority, send_at, expires_at and idempotency_key)` : `unknown field "${key}"`);
  }
  let mail: MailInput;
  if (raw) {
    if (typeof m.raw !== "string" || m.raw === "") fail('"raw" must be the complete message as a string');
    const env = m.envelope as Record<string, unknown> | undefined;
    if (env !== undefined) {
      if (typeof env !== "object" || env === null) fail('"envelope" must be an object {from, to}');
      for (const key of Object.keys(env!)) if (key !== "from" && key !== "to") fail(`envelope: unknown field "${key}"`);
      if (env!.from !== undefined && typeof env!.from !== "string") fail("envelope.from must be a string");
      if (env!.to !== undefined && !isStringList(env!.to)) fail("envelope.to must be a string or an array of strings");
    }
    mail = { raw: m.raw as string, envelope: env as { from?: string; to?: string | string[] } | undefined };
  } else {
    for (const key of ["from", "subject", "text", "html", "message_id"]) if (m[key] !== undefined && typeof m[key] !== "string") fail(`"${key}" must be a string`);
    for (const key of ["to", "cc", "bcc", "reply_to"]) if (m[key] !== undefined && !isStringList(m[key])) fail(`"${key}" must be a string or an array of strings`);
    if (m.to === undefined && m.cc === undefined && m.bcc === undefined) fail('no recipient: give "to", "cc" or "bcc"');
    const headers = m.headers;
    if (headers !== undefined && (typeof headers !== "object" || headers === null || Array.isArray(headers) || !Object.values(headers).every((v) => typeof v === "string"))) {
      fail('"headers" must be an object of strings, e.g. {"X-Campaign": "spring"}');
    }
    const attachments = m.attachments;
    if (attachments !== undefined && !Array.isArray(attachments)) fail('"attachments" must be an array of {filename, content (base64), content_type}');
    const files = ((attachments as unknown[]) ?? []).map((a, i) => {
      if (typeof a !== "object" || a === null) return fail(`attachments[${i}]: expected an object`);
      const { filename, content, content_type, ...rest } = a as Record<string, unknown>;
      if (Object.keys(rest).length > 0) fail(`attachments[${i}]: unknown field "${Object.keys(rest)[0]}"`);
      if (typeof content !== "string" || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(content)) fail(`attachments[${i}].content must be base64`);
      if (filename !== undefined && typeof filename !== "string") fail(`attachments[${i}].filename must be a string`);
      if (content_type !== undefined && typeof content_type !== "string") fail(`attachments[${i}].content_type must be a string`);
      return { filename: filename as string | undefined, content: Buffer.from(content as string, "base64"), contentType: content_type as string | undefined };
    });
    mail = {
      from: m.from as string | undefined, to: m.to as string | string[] | undefined, cc: m.cc as string | string[] | undefined,
      bcc: m.bcc as string | string[] | undefined, replyTo: m.reply_to as string | string[] | undefined, subject: m.subject as string | undefined,
      text: m.text as string | undefined, html: m.html as string | undefined, headers: headers as Record<string, string> | undefined,
      messageId: m.message_id as string | undefined, attachments: files.length ? files : undefined,
    };
  }
  if (m.priority !== undefined) {
    try {
      mail = withPriority(mail, m.priority);
    } catch {
      fail('"priority" must be high, medium or low');
    }
  }
  return { ...mail, ...scheduleFields(m, where) } as MailInput;
}

/** send_at, expires_at (ISO 8601 with a zone, or "+10m") and idempotency_key, as the library's fields. */
function scheduleFields(m: Record<string, unknown>, where: string): ScheduleInput {
  for (const key of SCHEDULE_FIELDS) {
    if (m[key] !== undefined && typeof m[key] !== "string") throw new DataError(`${where}"${key}" must be a string`);
  }
  return scheduleFrom(
    { sendAt: m.send_at as string | undefined, expiresAt: m.expires_at as string | undefined, idempotencyKey: m.idempotency_key as string | undefined },
    { sendAt: `${where}send_at`, expiresAt: `${where}expires_at`, idempotencyKey: `${where}idempotency_key` },
  );
}
