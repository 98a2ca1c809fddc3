// The OpenAPI 3 description of /api/v1, served at /api/v1/openapi.json. docs/api.md is its prose.
import { VERSION } from "../../version.ts";

const problem = { description: "A problem (RFC 9457)", content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } };
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), problem]));
const id = { name: "id", in: "path", required: true, schema: { type: "integer", minimum: 1 } };
const addresses = { oneOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] };
const when = (what: string) => ({ type: "string", description: `${what}: ISO 8601 with a time zone (2026-12-24T18:00:00Z) or a delay such as +10m` });
/** Send later, expire, deduplicate: the same three fields on both message forms. */
const schedule = {
  send_at: when("not sent before"),
  expires_at: when("not sent after (dropped and logged expired)"),
  idempotency_key: { type: "string", maxLength: 200, description: "queued already within [queue] idempotency_window: nothing is queued, the answer names the first message" },
};

export const OPENAPI = {
  openapi: "3.0.3",
  info: {
    title: "mailer API",
    version: VERSION.split(" ")[0] ?? "1",
    description: "Queue mail and operate the queue over HTTP. Every request carries `Authorization: Bearer <token>` (mailer web token add NAME --scope send|read|admin).",
  },
  servers: [{ url: "/api/v1" }],
  security: [{ bearer: [] }],
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "scope send: POST /messages; read: GET; admin: everything" } },
    schemas: {
      Problem: {
        type: "object",
        properties: { type: { type: "string" }, title: { type: "string" }, status: { type: "integer" }, detail: { type: "string" }, instance: { type: "string" } },
        required: ["type", "title", "status", "detail"],
      },
      Attachment: {
        type: "object", additionalProperties: false, required: ["content"],
        properties: { filename: { type: "string" }, content: { type: "string", format: "byte", description: "base64" }, content_type: { type: "string" } },
      },
      StructuredMessage: {
        type: "object", additionalProperties: false,
        description: "Composed by nodemailer, like every other enqueue path. At least one of to, cc, bcc.",
        properties: {
          from: { type: "string" }, to: addresses, cc: addresses, bcc: addresses, reply_to: addresses,
          subject: { type: "string" }, text: { type: "string" }, html: { type: "string" },
          attachments: { type: "array", items: { $ref: "#/components/schemas/Attachment" } },
          headers: { type: "object", additionalProperties: { type: "string" } },
          priority: { type: "string", enum: ["high", "medium", "low"] },
          message_id: { type: "string" },
          ...schedule,
        },
      },
      RawMessage: {
        type: "object", additionalProperties: false, required: ["raw"],
        properties: {
          raw: { type: "string", description: "a complete RFC 5322 message" },
          envelope: { type: "object", additionalProperties: false, properties: { from: { type: "string" }, to: addresses } },
          priority: { type: "string", enum: ["high", "medium", "low"] },
          ...schedule,
        },
      },
      Message: { oneOf: [{ $ref: "#/components/schemas/StructuredMessage" }, { $ref: "#/components/schemas/RawMessage" }] },
      Queued: {
        type: "object",
        properties: {
          id: { type: "integer", nullable: true, description: "null when every recipient is on the don't-send list (in a batch)" },
          message_id: { type: "string" }, envelope_from: { type: "string" },
          recipients: { type: "array", items: { type: "string" } }, suppressed: { type: "array", items: { type: "string" } },
          priority: { type: "string" },
          duplicate: { type: "boolean", description: "true: its idempotency key was queued already; id is the first message's and nothing new was queued" },
        },
      },
    },
  },
  paths: {
    "/messages": {
      post: {
        summary: "Queue one message or a batch (all or nothing)",
        requestBody: {
          required: true,
          content: {
            "application/json": { schema: { oneOf: [{ $ref: "#/components/schemas/Message" }, { type: "array", items: { $ref: "#/components/schemas/Message" } }] } },
            "message/rfc822": { schema: { type: "string", format: "binary" }, description: "query: to (repeatable), from, priority, send_at, expires_at, idempotency_key" },
          },
        },
        parameters: [
          { name: "Idempotency-Key", in: "header", schema: { type: "string", maxLength: 200 }, description: "the idempotency key of a single message (not an array)" },
        ],
        responses: {
          "200": { description: "Every message was queued before (same idempotency key): nothing new queued; the ids are the first messages'", content: { "application/json": { schema: { type: "object", properties: { messages: { type: "array", items: { $ref: "#/components/schemas/Queued" } } } } } } },
          "201": { description: "Queued", content: { "application/json": { schema: { type: "object", properties: { messages: { type: "array", items: { $ref: "#/components/schemas/Queued" } } } } } } },
          ...errors(400, 401, 403, 413, 415, 422, 503),
        },
      },
      get: {
        summary: "List queued, deferred or failed messages (keyset pages)",
        parameters: [
          { name: "state", in: "query", schema: { type: "string", enum: ["queued", "deferred", "failed"] } },
          { name: "priority", in: "query", schema: { type: "string", enum: ["high", "medium", "low"] } },
          { name: "q", in: "query", schema: { type: "string" }, description: "recipient, sender, subject or Message-ID" },
          { name: "order", in: "query", schema: { type: "string", enum: ["queue", "oldest", "newest"] } },
          { name: "cursor", in: "query", schema: { type: "string" }, description: "next_cursor of the previous page" },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500, default: 50 } },
        ],
        responses: { "200": { description: "A page: {messages, next_cursor}" }, ...errors(400, 401, 403, 503) },
      },
    },
    "/messages/{id}": {
      get: { summary: "One message and its attempts (from the log once it has left the queue)", parameters: [id], responses: { "200": { description: "{message, log}" }, ...errors(401, 403, 404, 503) } },
      delete: { summary: "Delete a queued, deferred or failed message", parameters: [id], responses: { "204": { description: "Deleted" }, ...errors(401, 403, 404, 409, 503) } },
    },
    "/messages/{id}/retry": {
      post: { summary: "Put a deferred or failed message back on the queue", parameters: [id], responses: { "200": { description: "{id, status}" }, ...errors(401, 403, 404, 409, 503) } },
    },
    "/status": { get: { summary: "The object `mailer status --json` prints", responses: { "200": { description: "Status" }, ...errors(401, 403, 503) } } },
    "/dont-send": {
      get: { summary: "The don't-send list", responses: { "200": { description: "{addresses}" }, ...errors(401, 403, 503) } },
      post: {
        summary: "Add an address",
        requestBody: { required: true, content: { "application/json": { schema: { type: "object", required: ["address"], properties: { address: { type: "string" } } } } } },
        responses: { "201": { description: "Added" }, "200": { description: "Listed already" }, ...errors(400, 401, 403, 422, 503) },
      },
      delete: {
        summary: "Remove an address (?address=)",
        parameters: [{ name: "address", in: "query", required: true, schema: { type: "string" } }],
        responses: { "204": { description: "Removed" }, ...errors(401, 403, 404, 422, 503) },
      },
    },
  },
} as const;
