// Importing the spool (spool.ts) into the queue: at the start of every pass, and in runmailer and
// runmailer-pg whenever a file appears (spool-watch.ts).
//
// Crash safety: a file's message and its name in the ledger (mailer_spoolimport) commit together, and
// the file is unlinked only after that commit. A crash before the commit leaves the file to be
// imported again; a crash after it leaves a file whose name is in the ledger, which the next import
// unlinks without queueing it again. Two importers that read the same file both try to record its
// name: the second transaction fails on the primary key and queues nothing.
import { readdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/types.ts";
import type { Database } from "../db/connect.ts";
import { chunks } from "../db/queries/chunks.ts";
import { importedAmong, pruneImported, recordImported } from "../db/queries/spool.ts";
import { ConfigError, DataError, errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { enqueueMessages } from "../queue/enqueue.ts";
import { isLocalName } from "../queue/address.ts";
import { loginOf } from "../queue/host-identity.ts";
import { LocalRouting, type Routing } from "../queue/local-routing.ts";
import type { PreparedMessage } from "../queue/prepare.ts";
import { BadSpoolFile, isSpoolName, readSpoolFile, type SpoolFile } from "./spool.ts";
import { prepareSubmission } from "./submission.ts";

export interface SpoolImportEnv {
  config: Config;
  db: Database;
  logger: Logger;
  /** Kept by a long-running worker so the aliases file is parsed once per change, not per pass. */
  routing?: Routing;
  clock?: () => Date;
}

export interface SpoolImportResult {
  imported: number;
  /** Files set aside as `<name>.bad`: they can never become a message. */
  quarantined: number;
}

/** Files per transaction. */
const BATCH = 200;
/** A temporary file this old belongs to a sendmail that died while writing it. */
const STALE_TEMPORARY_MS = 3600_000;
/** How long the ledger remembers a file after it is gone. */
const LEDGER_KEEP_MS = 24 * 3600_000;

export async function importSpool(env: SpoolImportEnv): Promise<SpoolImportResult> {
  const result: SpoolImportResult = { imported: 0, quarantined: 0 };
  const dir = env.config.queue.spool;
  if (!dir) return result;
  const { db, logger } = env;
  const now = env.clock?.() ?? new Date();
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    logger.error(`queue.spool: cannot read ${dir}: ${errorText(error)}; mail dropped there waits`);
    return result;
  }
  removeStaleTemporaries(dir, entries, now, logger);
  const names = entries.filter(isSpoolName).sort();
  const present = new Set(names);
  if (names.length > 0) {
    const routing = env.routing ?? new LocalRouting(env.config.queue);
    const done = await importedAmong(db.kysely, names);
    // Queued already by an importer that died before it could unlink the file.
    for (const name of done) unlinkQuietly(dir, name, logger);
    for (const batch of chunks(names.filter((n) => !done.has(n)), BATCH)) {
      const ready: Array<{ name: string; message: PreparedMessage; file: SpoolFile }> = [];
      for (const name of batch) {
        const read = readOne(env, dir, name, routing);
        if (read === "quarantined") result.quarantined++;
        else if (read) ready.push({ name, ...read });
      }
      if (ready.length === 0) continue;
      if (!(await queueBatch(env, ready))) break;
      for (const { name, file, message } of ready) {
        unlinkQuietly(dir, name, logger);
        logger.debug("imported from the spool", { file: name, uid: file.uid, messageId: message.messageId, recipients: message.envelopeTo.length });
      }
      result.imported += ready.length;
    }
    // Only after an import: a pass over an empty spool (runmailer-pg's every pass) costs no query.
    await pruneImported(db.kysely, db.dialect.toDb(new Date(now.getTime() - LEDGER_KEEP_MS)), present);
  }
  return result;
}

/** One file read and prepared, "quarantined" when it never can be, or null to leave it for later. */
function readOne(env: SpoolImportEnv, dir: string, name: string, routing: Routing): { message: PreparedMessage; file: SpoolFile } | "quarantined" | null {
  const { logger, config } = env;
  let file: SpoolFile;
  try {
    file = readSpoolFile(dir, name, config.queue.max_size);
    // The uid is the file's owner; the login is the password file's name for it. The name the
    // submitter wrote is used only for an account the password file does not list (a directory service).
    const known = loginOf(file.uid);
    const login = known === `uid${file.uid}` && isLocalName(file.login) ? file.login : known;
    const message = prepareSubmission({ ...file.submission, submitter: { uid: file.uid, login } }, {
      routing,
      maxSize: config.queue.max_size,
      // As of its submission: a message whose expiry passed while it waited in the spool is queued
      // and then logged expired, not set aside as bad.
      now: file.submittedAt,
    });
    return { message, file };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null; // another importer took it
    if (error instanceof BadSpoolFile || error instanceof DataError) {
      quarantine(dir, name, error, logger);
      return "quarantined";
    }
    if (error instanceof ConfigError) throw error; // a broken aliases file: every message would fail
    if (code === "EACCES") {
      logger.error(`queue.spool: cannot read ${name}: the spool directory must be setgid and group-owned by this worker's group (docs/deployment.md); it waits`);
    } else {
      logger.error(`queue.spool: cannot read ${name}: ${errorText(error)}; it waits`);
    }
    return null;
  }
}

/** Queue a batch with its ledger rows; false when another importer got there first (nothing queued). */
async function queueBatch(env: SpoolImportEnv, ready: Array<{ name: string; message: PreparedMessage }>): Promise<boolean> {
  const names = ready.map((r) => r.name);
  try {
    await enqueueMessages(env.db, ready.map((r) => r.message), {
      batchSize: ready.length,
      logMessageData: env.config.delivery.log_message_data,
      idempotencyWindow: env.config.queue.idempotency_window,
      inTransaction: (trx) => recordImported(trx, names),
    });
    return true;
  } catch (error) {
    const taken = await importedAmong(env.db.kysely, names).catch(() => new Set<string>());
    if (taken.size === 0) throw error;
    env.logger.debug("another importer queued these spool files first", { files: taken.size });
    return false;
  }
}

function quarantine(dir: string, name: string, error: unknown, logger: Logger): void {
  const bad = name.replace(/\.msg$/, ".bad");
  try {
    renameSync(join(dir, name), join(dir, bad));
    logger.error(`queue.spool: ${errorText(error)}; set aside as ${join(dir, bad)}`);
  } catch (renameError) {
    logger.error(`queue.spool: ${errorText(error)}; could not set it aside: ${errorText(renameError)}`);
  }
}

function unlinkQuietly(dir: string, name: string, logger: Logger): void {
  try {
    unlinkSync(join(dir, name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      logger.error(`queue.spool: cannot remove ${name} after importing it: ${errorText(error)} (it will not be queued twice)`);
    }
  }
}

function removeStaleTemporaries(dir: string, entries: string[], now: Date, logger: Logger): void {
  for (const entry of entries) {
    if (!/^\..*\.tmp$/.test(entry)) continue;
    try {
      if (now.getTime() - statSync(join(dir, entry)).mtimeMs > STALE_TEMPORARY_MS) unlinkSync(join(dir, entry));
    } catch (error) {
      logger.debug(`queue.spool: leftover ${entry}: ${errorText(error)}`);
    }
  }
}
