// Config hot reload for the long-running commands: watches the config file (watch-path.ts) and, on a
// change (or when the command calls reload(), e.g. on SIGHUP), loads and validates it again. A valid
// file goes to onChange; an invalid one is logged and the running config stays in force.
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { loadConfig, type Loaded, type LoadOptions } from "./load.ts";
import type { Config } from "./types.ts";
import { watchPath, type PathWatch } from "./watch-path.ts";

export interface WatchConfigOptions {
  /** The running config; its `source` is the file watched (null: defaults only, nothing to watch). */
  config: Config;
  /** How the process loaded it at start (--config, requireFile …). */
  load?: LoadOptions;
  logger: Logger;
  /** Applies a valid new config. It may refuse (throw): the running config then stays, and the
   * refusal is logged like an invalid file. Calls never overlap. */
  onChange(next: Config, loaded: Loaded): Promise<void> | void;
  /** Quiet time after the last file event before reloading: one save is often several events. */
  debounceMs?: number;
}

export interface ConfigWatcher {
  /** Loads the file again now (SIGHUP); resolves once the result is applied or reported. */
  reload(reason?: string): Promise<void>;
  close(): Promise<void>;
}

/** What a reload finds at the file's path before it loads it. */
function fileState(file: string): "gone" | "empty" | "present" {
  try {
    return readFileSync(file, "utf8").trim() === "" ? "empty" : "present";
  } catch (error) {
    // Unreadable for another reason: loadConfig says so properly.
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "gone" : "present";
  }
}

export function watchConfig(options: WatchConfigOptions): ConfigWatcher {
  const { logger } = options;
  const file = options.config.source;
  // Reload the file the process started with, wherever the lookup found it: if ./mailer.toml is
  // deleted, falling back to /etc/mailer/mailer.toml or to defaults would be a silent surprise.
  const loadOptions: LoadOptions = file === null ? { ...options.load } : { ...options.load, path: file };
  let queue: Promise<void> = Promise.resolve();
  let closed = false;

  const reloadNow = async (reason: string) => {
    // An empty file is valid TOML (all defaults), but on a reload it is far more likely a save
    // caught half-way, or a mistake, than a wish to send from ./mailer.db to localhost:25. A missing
    // one is said plainly: loadConfig would call it a file "named by --config", which it may not be.
    const state = file === null ? "present" : fileState(file);
    if (state !== "present") {
      logger.error(`config file is ${state}, keeping the running config`, { config: file, reason });
      return;
    }
    let loaded: Loaded;
    try {
      loaded = loadConfig(loadOptions);
    } catch (error) {
      logger.error(`config invalid, keeping the running config: ${errorText(error).split("\n").join("; ")}`, { reason });
      return;
    }
    for (const warning of loaded.warnings) logger.warn(warning);
    try {
      await options.onChange(loaded.config, loaded);
    } catch (error) {
      logger.error(`config not applied, keeping the running config: ${errorText(error)}`, { reason });
    }
  };
  const reload = (reason = "requested") => {
    // One reload at a time, in order: a second save during a slow database switch waits its turn.
    const next = queue.then(() => (closed ? undefined : reloadNow(reason)));
    queue = next.catch(() => {});
    return next;
  };

  if (file === null) {
    logger.debug("no config file in use (built-in defaults): nothing to watch for changes");
    return { reload, close: async () => void (closed = true) };
  }

  let timer: ReturnType<typeof setTimeout> | null = null;
  let watch: PathWatch | null = null;
  try {
    watch = watchPath(
      file,
      () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          timer = null;
          void reload(`${basename(file)} ${existsSync(file) ? "changed" : "removed"}`);
        }, options.debounceMs ?? 200);
      },
      (error) => logger.warn(`watching ${file} failed: ${errorText(error)}`),
    );
    logger.debug("watching the config file for changes", { config: file });
  } catch (error) {
    // A watch that cannot be set up (inotify limits, say) costs hot reload, not the worker.
    logger.warn(`cannot watch ${file} for changes (reload with SIGHUP instead): ${errorText(error)}`);
  }

  return {
    reload,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      watch?.close();
      await queue;
    },
  };
}
