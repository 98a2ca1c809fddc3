// watchPath, the config file's watch: every way a file gets saved is seen, through links too, and
// the churn of other files in the same directory (the lock file beside mailer.toml) is not.
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { watchPath, type PathWatch } from "../../src/config/watch-path.ts";
import { tempDir } from "../helpers/db.ts";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A watch on `file` that counts its events and can wait for the next ones. */
function watched(file: string) {
  let events = 0;
  const errors: Error[] = [];
  const watch: PathWatch = watchPath(file, () => void events++, (error) => void errors.push(error));
  cleanups.push(() => watch.close());
  return {
    errors,
    /** Runs `action` and resolves once it produced at least one event (fails after 5 s). */
    async seen(action: () => void): Promise<void> {
      const before = events;
      action();
      for (let waited = 0; events === before; waited += 10) {
        if (waited > 5000) throw new Error("no event within 5 s");
        await Bun.sleep(10);
      }
      // Let the rest of this action's events arrive before the next action counts.
      await Bun.sleep(50);
    },
    /** Runs `action` and returns how many events it produced within `ms`. */
    async count(action: () => void, ms = 300): Promise<number> {
      const before = events;
      action();
      await Bun.sleep(ms);
      return events - before;
    },
  };
}

function scratch(): string {
  const dir = tempDir();
  cleanups.push(() => dir.cleanup());
  return dir.path;
}

test("written in place, renamed over, removed and created again: each is seen", async () => {
  const file = join(scratch(), "mailer.toml");
  writeFileSync(file, "a = 1\n");
  const w = watched(file);
  await w.seen(() => writeFileSync(file, "a = 2\n"));
  await w.seen(() => {
    writeFileSync(`${file}.tmp`, "a = 3\n");
    renameSync(`${file}.tmp`, file);
  });
  await w.seen(() => unlinkSync(file));
  await w.seen(() => writeFileSync(file, "a = 4\n"));
  expect(w.errors).toEqual([]);
});

test("other files in the same directory are not the file: a lock file's churn beside it is not seen", async () => {
  const dir = scratch();
  const file = join(dir, "mailer.toml");
  writeFileSync(file, "a = 1\n");
  const lock = join(dir, "send_mail");
  const w = watched(file);
  const churn = await w.count(() => {
    // What a worker's passes and heartbeats do to the lock file, many times over.
    for (let i = 0; i < 50; i++) {
      writeFileSync(`${lock}.${i}`, "pid\n");
      renameSync(`${lock}.${i}`, lock);
      utimesSync(lock, new Date(), new Date());
      unlinkSync(lock);
    }
    writeFileSync(join(dir, "mailer.toml.swp"), "vim");
  });
  expect(churn).toBe(0);
  // Still watching.
  await w.seen(() => writeFileSync(file, "a = 2\n"));
});

test("a file reached through a link: its target's edits are seen, and after `ln -sf` the new target's", async () => {
  const root = scratch();
  mkdirSync(join(root, "etc"));
  mkdirSync(join(root, "srv"));
  const first = join(root, "srv", "mailer.toml");
  const second = join(root, "srv", "other.toml");
  writeFileSync(first, "a = 1\n");
  writeFileSync(second, "b = 1\n");
  const link = join(root, "etc", "mailer.toml");
  symlinkSync(first, link);
  const w = watched(link);
  await w.seen(() => writeFileSync(first, "a = 2\n"));
  await w.seen(() => {
    writeFileSync(`${first}.tmp`, "a = 3\n");
    renameSync(`${first}.tmp`, first);
  });
  // ln -sf: a new link renamed over the old one.
  await w.seen(() => {
    symlinkSync(second, `${link}.new`);
    renameSync(`${link}.new`, link);
  });
  await w.seen(() => writeFileSync(second, "b = 2\n"));
  // The old target is no longer the file.
  expect(await w.count(() => writeFileSync(first, "a = 4\n"))).toBe(0);
  expect(w.errors).toEqual([]);
});

test("a Kubernetes ConfigMap volume: each update (the ..data link swapped, the old directory removed) is seen", async () => {
  const root = scratch();
  // mailer.toml -> ..data/mailer.toml, ..data -> ..<timestamp>/, as the kubelet lays a ConfigMap out.
  const version = (n: number) => {
    mkdirSync(join(root, `..v${n}`));
    writeFileSync(join(root, `..v${n}`, "mailer.toml"), `n = ${n}\n`);
  };
  version(1);
  symlinkSync("..v1", join(root, "..data"));
  symlinkSync("..data/mailer.toml", join(root, "mailer.toml"));
  const update = (n: number) => {
    version(n);
    symlinkSync(`..v${n}`, join(root, "..data_tmp"));
    renameSync(join(root, "..data_tmp"), join(root, "..data"));
    rmSync(join(root, `..v${n - 1}`), { recursive: true });
  };
  const w = watched(join(root, "mailer.toml"));
  await w.seen(() => update(2));
  await w.seen(() => update(3));
  expect(w.errors).toEqual([]);
});

test("a file whose directory does not exist cannot be watched: watchPath throws", () => {
  const file = join(scratch(), "gone", "mailer.toml");
  expect(() => watchPath(file, () => {}, () => {})).toThrow(/ENOENT|no such file/i);
});
