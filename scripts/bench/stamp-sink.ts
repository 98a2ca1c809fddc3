// The latency step's second sink (stamp-sink.py): a Python process that stamps each message's arrival
// with the wall clock as it reads the final dot, so that no arrival is timed in an event loop that
// also runs the bench, the sink of the other steps or the worker. Matched to commits by Message-ID.
import { join } from "node:path";
import { readLines } from "../../test/helpers/lines.ts";

export interface StampSink {
  host: string;
  port: number;
  /** Message-ID -> wall-clock milliseconds of arrival, for every message stamped so far. */
  arrivals(): Map<string, number>;
  stop(): Promise<void>;
}

export async function startStampSink(): Promise<StampSink> {
  const child = Bun.spawn(["python3", join(import.meta.dir, "stamp-sink.py")], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const output = readLines(child.stdout);
  let port: number;
  try {
    port = (JSON.parse(await output.waitFor(/^\{"port":/, 10_000)) as { port: number }).port;
  } catch {
    child.kill();
    throw new Error(`stamp-sink.py did not start: ${await new Response(child.stderr).text()}`);
  }
  const seen = new Map<string, number>();
  return {
    host: "127.0.0.1",
    port,
    arrivals() {
      for (const line of output.lines) {
        const { messageId, arrivedAt } = JSON.parse(line) as { messageId?: string | null; arrivedAt?: number };
        if (messageId && arrivedAt !== undefined && !seen.has(messageId)) seen.set(messageId, arrivedAt);
      }
      return seen;
    },
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
      await output.done.catch(() => {});
    },
  };
}
