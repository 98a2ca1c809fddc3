// openQueue(): the library's way in. Configuration resolves as for the CLI (file, environment,
// defaults); `url` overrides database.url the way a flag would.
import { loadConfig, resolveDatabaseUrl } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { Queue } from "./queue.ts";

export interface OpenQueueOptions {
  /** sqlite:PATH | sqlite::memory: | postgres://…; wins over the config's database.url. */
  url?: string;
  /** A mailer.toml path, or an already loaded Config. Default: $MAILER_CONFIG, ./mailer.toml,
   * /etc/mailer/mailer.toml, else built-in defaults (an SQLite file ./mailer.db). */
  config?: string | Config;
  /** Where the queue logs (default: nowhere; library code never writes to the console). */
  logger?: Logger;
  /** Messages per transaction in enqueueMany (default: delivery.enqueue_batch_size, 500). */
  batchSize?: number;
  /** Apply pending migrations on open. PostgreSQL otherwise needs `mailer migrate` first;
   * SQLite migrates itself either way. */
  migrate?: boolean;
}

/** A logger that drops everything: the default for library callers who pass none. */
export const silentLogger = (): Logger => createLogger({ level: "error", write: () => {} });

/** What the library reads; a problem elsewhere (a worker's password_env unset here) is not its concern. */
const LIBRARY_SECTIONS = ["database", "queue", "delivery", "log"];

export function resolveQueueConfig(options: OpenQueueOptions): Config {
  let config: Config;
  if (typeof options.config === "object" && options.config !== null) {
    config = options.config;
  } else {
    const env = options.url === undefined ? process.env : { ...process.env, MAILER_DATABASE_URL: options.url };
    config = loadConfig({ path: options.config, env, uses: LIBRARY_SECTIONS }).config;
  }
  // Resolved again for a Config passed in (loadConfig has resolved it already otherwise): a relative
  // SQLite path is relative to the working directory, as on the command line.
  if (options.url !== undefined) {
    const resolved = resolveDatabaseUrl(options.url, process.cwd());
    if ("problem" in resolved) throw new ConfigError(`url: ${resolved.problem}`);
    if (resolved.url !== config.database.url) config = { ...config, database: { ...config.database, url: resolved.url } };
  }
  return config;
}

/** Open the queue and check its schema now, so a bad URL or an unmigrated database fails here. */
export async function openQueue(options: OpenQueueOptions = {}): Promise<Queue> {
  const config = resolveQueueConfig(options);
  const logger = options.logger ?? silentLogger();
  const queue = new Queue(config, logger, { batchSize: options.batchSize, migrate: options.migrate });
  await queue.connection();
  return queue;
}
