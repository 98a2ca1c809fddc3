// A second smtp-sink for the latency step that keeps each message as a file (-d): the file's
// modification time, set by smtp-sink's own last write at the end of DATA, is when the message
// arrived, taken by a process (in C) that the bench does not run in. Matched to commits by Message-ID.
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTP_SINK, freePort } from "./sink.ts";

export interface DumpSink {
  host: string;
  port: number;
  /** Message-ID -> wall-clock milliseconds of arrival, for every message dumped so far. */
  arrivals(): Map<string, number>;
  stop(): Promise<void>;
}

/** In a directory of its own under /tmp: smtp-sink writes as the postfix user, who may not enter the
 * bench's own (mode 0700) directory. */
export async function startDumpSink(): Promise<DumpSink> {
  const dir = mkdtempSync(join(tmpdir(), "mailer-bench-dump-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = (flag: string) => Number(Bun.spawnSync(["id", flag, "postfix"]).stdout.toString().trim());
    chownSync(dir, id("-u"), id("-g"));
  }
  const port = await freePort();
  const child = Bun.spawn([SMTP_SINK, ...(asRoot ? ["-u", "postfix"] : []), "-d", join(dir, "%H%M%S"), `127.0.0.1:${port}`, "256"], {
    stdout: "ignore", stderr: "pipe", stdin: "ignore",
  });
  await Bun.sleep(200);
  if (child.exitCode !== null) throw new Error(`smtp-sink -d exited ${child.exitCode}: ${await new Response(child.stderr).text()}`);
  const seen = new Map<string, number>();
  return {
    host: "127.0.0.1",
    port,
    arrivals() {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        const text = readFileSync(path, "latin1");
        const id = /^message-id:\s*(<[^>]+>)/im.exec(text)?.[1];
        if (id && !seen.has(id)) seen.set(id, Number(statSync(path, { bigint: true }).mtimeNs) / 1e6);
      }
      return seen;
    },
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
