// The NOTIFY trigger runmailer-pg relies on: every row inserted into mailer_message notifies
// CHANNEL with its id when the inserting transaction commits (rolled-back mail wakes nobody).
// Names follow django-mailer's (without its "django_" prefix) so operators recognise them.
//
// Installed idempotently on every start. Privileges are needed only when something is missing, so a
// worker role without CREATE rights runs fine once an owner has installed the trigger.
import { sql, type Kysely } from "kysely";
import type { Database } from "../db/connect.ts";
import type { Schema } from "../db/schema.ts";
import { ConfigError, errorText } from "../errors.ts";
import type { Logger } from "../log.ts";

export const CHANNEL = "mailer_new_message";
export const NOTIFY_FUNCTION = "mailer_notify_new_message";
export const NOTIFY_TRIGGER = "mailer_message_notify_trigger";

/** The DDL, also printed by docs/deployment.md for an owner to run by hand. */
export const FUNCTION_SQL = `create function ${NOTIFY_FUNCTION}() returns trigger language plpgsql as $$
begin
  perform pg_notify('${CHANNEL}', NEW.id::text);
  return NEW;
end
$$`;
export const TRIGGER_SQL = `create trigger ${NOTIFY_TRIGGER} after insert on mailer_message
  for each row execute function ${NOTIFY_FUNCTION}()`;

/** Serialises installers (several workers starting at once would otherwise race CREATE TRIGGER). */
const INSTALL_LOCK = sql`pg_advisory_xact_lock(hashtext('mailer.notify-trigger'))`;

export type InstallResult = "present" | "installed";

/** Makes sure the trigger exists on mailer_message. Throws ConfigError (exit 78) when it is missing
 * and this role may not create it: degrading silently to polling would hide a configuration
 * mistake behind slower mail; the operator either grants the right once or uses `runmailer`. */
export async function installNotifyTrigger(db: Database, logger: Logger): Promise<InstallResult> {
  // The check is per table (the trigger on *this* mailer_message, through search_path), not a
  // database-wide name lookup as django-mailer's: another schema's mailer tables do not count.
  if (await triggerPresent(db.kysely)) {
    logger.debug(`NOTIFY trigger ${NOTIFY_TRIGGER} is present`);
    return "present";
  }
  try {
    const installed = await db.kysely.transaction().execute(async (trx) => {
      await sql`select ${INSTALL_LOCK}`.execute(trx);
      if (await triggerPresent(trx)) return false; // another worker installed it while we waited
      const fn = await sql<{ found: boolean }>`select to_regprocedure(${NOTIFY_FUNCTION + "()"}) is not null as found`.execute(trx);
      // An existing function is kept as it is: replacing it would need ownership of it.
      if (!fn.rows[0]?.found) await sql.raw(FUNCTION_SQL).execute(trx);
      await sql.raw(TRIGGER_SQL).execute(trx);
      return true;
    });
    if (installed) logger.info(`installed the NOTIFY trigger ${NOTIFY_TRIGGER} on mailer_message (channel ${CHANNEL})`);
    return installed ? "installed" : "present";
  } catch (error) {
    if ((error as { code?: unknown })?.code === "42501") throw await privilegeError(db.kysely, error);
    throw error;
  }
}

async function triggerPresent(db: Kysely<Schema>): Promise<boolean> {
  const result = await sql<{ found: boolean }>`
    select exists (
      select 1 from pg_trigger
      where tgrelid = to_regclass('mailer_message') and tgname = ${NOTIFY_TRIGGER} and not tgisinternal
    ) as found`.execute(db);
  return result.rows[0]?.found === true;
}

async function privilegeError(db: Kysely<Schema>, cause: unknown): Promise<ConfigError> {
  const who = await sql<{ user: string }>`select current_user as user`.execute(db).then(
    (r) => JSON.stringify(r.rows[0]?.user ?? "?"),
    () => "this role",
  );
  return new ConfigError(
    `runmailer-pg: the NOTIFY trigger ${NOTIFY_TRIGGER} is missing on mailer_message and role ${who} may not create it ` +
      `(${errorText(cause)}). Installing it needs CREATE on the table's schema and ownership of (or TRIGGER on) ` +
      `mailer_message: run \`mailer runmailer-pg\` once as the owner (e.g. the role that ran \`mailer migrate\`), ` +
      `or have the owner run the SQL in docs/deployment.md; or use \`mailer runmailer\`, which polls and needs no trigger.`,
  );
}
