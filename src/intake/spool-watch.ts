// runmailer and runmailer-pg watch the spool (chokidar), so a message dropped by sendmail is imported
// and sent within milliseconds rather than at the next beat. The watch is only a wake-up call: every
// pass imports the spool whatever the watch saw, so a missed event delays mail by one beat at most.
import { errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { isSpoolName } from "./spool.ts";

export interface SpoolWatch {
  readonly dir: string;
  close(): Promise<void>;
}

export function watchSpool(dir: string, logger: Logger, onFile: () => void): SpoolWatch {
  let closed = false;
  let watcher: import("chokidar").FSWatcher | null = null;
  const started = (async () => {
    const { watch } = await import("chokidar");
    if (closed) return;
    watcher = watch(dir, { ignoreInitial: true, depth: 0 });
    // sendmail renames a finished file into place: that is the "add" of a spool name.
    watcher.on("add", (path: string) => {
      if (isSpoolName(path.slice(path.lastIndexOf("/") + 1))) onFile();
    });
    watcher.on("error", (error) => logger.warn(`watching the spool ${dir} failed: ${errorText(error)}; it is imported on every pass`));
    await new Promise<void>((done) => watcher!.once("ready", () => done()));
    logger.debug("watching the spool", { spool: dir });
  })().catch((error) => logger.warn(`cannot watch the spool ${dir}: ${errorText(error)}; it is imported on every pass`));
  return {
    dir,
    async close() {
      closed = true;
      await started;
      await watcher?.close();
    },
  };
}
