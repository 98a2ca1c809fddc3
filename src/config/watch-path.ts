// Tells when a file may have changed, without ever reading a directory: the directory holding the
// file is watched (fs.watch: inotify on Linux) and only events that name the file count.
//
// The directory, not the file: editors and config managers save by writing a temporary file and
// renaming it over the old one, which replaces the inode a watch on the file would hold. Filtering by
// name matters because the directory is often shared: with the README's layout the lock file sits
// beside mailer.toml, and every pass (and every lock heartbeat) changes it. A watcher that re-read the
// directory on each of those events (chokidar did) cost a directory scan per pass for nothing.
//
// A file reached through symlinks (/etc/mailer/mailer.toml -> /srv/conf/mailer.toml, or Kubernetes'
// mailer.toml -> ..data/mailer.toml -> ..2026_12_06…/mailer.toml) changes where the link's target
// lives, so the target's directory is watched as well, for the target's name. Each event resolves
// the links again: after `ln -sf` or a ConfigMap update, the new target is the one watched.
import { realpathSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";

export interface PathWatch {
  close(): void;
}

/**
 * Calls `onChange` whenever the directory entry of `file`, or of the file its links lead to, is
 * written, replaced, created or removed. Throws when the file's own directory cannot be watched
 * (missing, or the inotify limits reached); `onError` hears of failures after that.
 */
export function watchPath(file: string, onChange: () => void, onError: (error: Error) => void): PathWatch {
  const path = resolve(file);
  /** "dir\0name" -> the watch on dir that counts events naming name. */
  const watches = new Map<string, FSWatcher>();
  let closed = false;

  const place = (dir: string, name: string): string => {
    const key = `${dir}\0${name}`;
    if (!watches.has(key)) {
      const watcher = watch(dir, (_event, entry) => {
        // No name is given when the event is about the directory itself; that may concern us too.
        if (entry === null || entry === name) onEvent();
      });
      watcher.on("error", (error) => {
        // The directory went away (a ConfigMap's old timestamped directory does): the next event on
        // the file's own directory places the watch anew.
        watches.delete(key);
        watcher.close();
        if (dir === dirname(path)) onError(error);
      });
      watches.set(key, watcher);
    }
    return key;
  };

  const arm = (first: boolean) => {
    const wanted = new Set([place(dirname(path), basename(path))]);
    let target: string | null = null;
    try {
      target = realpathSync(path);
    } catch {
      // Missing, or a dangling link: its own directory's watch sees it come back.
    }
    if (target !== null && target !== path) {
      try {
        wanted.add(place(dirname(target), basename(target)));
      } catch (error) {
        if (first) throw error;
      }
    }
    for (const [key, watcher] of watches) {
      if (!wanted.has(key)) {
        watcher.close();
        watches.delete(key);
      }
    }
  };

  const onEvent = () => {
    if (closed) return;
    try {
      arm(false);
    } catch (error) {
      onError(error as Error);
    }
    onChange();
  };

  try {
    arm(true);
  } catch (error) {
    for (const watcher of watches.values()) watcher.close();
    throw error;
  }
  return {
    close() {
      closed = true;
      for (const watcher of watches.values()) watcher.close();
      watches.clear();
    },
  };
}
