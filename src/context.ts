// Everything a command needs, built once from the global options and released in reverse order.
import { loadConfig, type Loaded } from "./config/load.ts";
import type { Config } from "./config/types.ts";
import type { Database } from "./db/connect.ts";
import { openCheckedDatabase } from "./db/migrate.ts";
import { createLogger, type LogFormat, type Logger, type LoggerOptions, type LogLevel } from "./log.ts";
import { logSecrets } from "./log-secrets.ts";
import { isTerminal } from "./runtime.ts";

export interface GlobalOptions {
  config?: string;
  logFormat?: string;
  logLevel?: string;
  /** Refuse to run on built-in defaults (the sendmail intake). */
  requireConfigFile?: boolean;
  /** The config sections the command reads (its registry entry); absent = all. */
  uses?: readonly string[];
}

export interface Context {
  config: Config;
  logger: Logger;
  clock: () => Date;
  /** The database, opened on first use with its schema checked (or created, for embedded SQLite). */
  database(): Promise<Database>;
  /** Run on close, last registered first. */
  onClose(release: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** The log format in force: the --log-format flag, else [log] format, else text. */
export const logFormatFor = (config: Config | null, options: GlobalOptions) => (options.logFormat ?? config?.log.format ?? "text") as LogFormat;

/** Flags beat the config's [log]; colour only for text on a terminal, and never under NO_COLOR
 * (no-color.org: set and not empty). `extra` lets a command route lines (send-mail's progress line). */
export function loggerFor(config: Config | null, options: GlobalOptions, extra: Partial<LoggerOptions> = {}): Logger {
  const level = (options.logLevel ?? config?.log.level ?? "info") as LogLevel;
  const format = logFormatFor(config, options);
  const colour = format === "text" && !process.env.NO_COLOR ? () => isTerminal(2) : false;
  return createLogger({ level, format, colour, secrets: config ? logSecrets(config) : [], ...extra });
}

export async function openContext(options: GlobalOptions): Promise<Context> {
  return contextFor(loadConfig({ path: options.config, requireFile: options.requireConfigFile, uses: options.uses }), options);
}

/** A context for a config the command loaded itself (sendmail decides what it uses by what it finds). */
export function contextFor({ config, warnings }: Loaded, options: GlobalOptions): Context {
  const logger = loggerFor(config, options);
  for (const warning of warnings) logger.warn(warning);
  return contextFrom(config, logger);
}

function contextFrom(config: Config, logger: Logger): Context {
  const releases: Array<() => Promise<void> | void> = [];
  let opening: Promise<Database> | null = null;
  return {
    config,
    logger,
    clock: () => new Date(),
    database() {
      opening ??= (async () => {
        const db = await openCheckedDatabase(config);
        releases.push(() => db.close());
        return db;
      })();
      return opening;
    },
    onClose(release) {
      releases.push(release);
    },
    async close() {
      while (releases.length > 0) {
        const release = releases.pop()!;
        try {
          await release();
        } catch (error) {
          logger.debug("error while closing", { error: String(error) });
        }
      }
    },
  };
}
