// /healthz: the process answers (a liveness probe). /readyz: the database answers and its schema is
// current (a readiness probe, or a load balancer's check); 503 with the reason otherwise.
import type { Hono } from "hono";
import type { Database } from "../db/connect.ts";
import { schemaState } from "../db/migrate.ts";
import { errorText } from "../errors.ts";

export function registerHealth(app: Hono<any>, db: Database) {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    try {
      const schema = await schemaState(db);
      if (schema.pending.length > 0) {
        return c.json({ status: "unavailable", reason: `schema not current: pending ${schema.pending.join(", ")} (run mailer migrate)` }, 503);
      }
      return c.json({ status: "ok", schema_version: schema.applied.at(-1) ?? null });
    } catch (error) {
      c.header("Retry-After", "5");
      return c.json({ status: "unavailable", reason: `database: ${errorText(error).split("\n")[0]}` }, 503);
    }
  });
}
