// The latency step's second sink (stamp-sink.py): a Python process that stamps each message's arrival
// with the wall clock as it reads the final dot, so that no arrival is timed in an event loop that
// also runs the bench, the sink of the other steps or the worker. Matched to commits by Message-ID.
import { join } from "node:path";

export interface StampSink {
  host: string;
  port: number;
  /** Message-ID -> wall-clock milliseconds of arrival, for every message stamped so far. */
  arrivals(): Map<string, number>;
  stop(): Promise<void>;
}

export async function startStampSink(): Promise<StampSink> {
  const child = Bun.spawn(["python3", join(import.meta.dir, "stamp-sink.py")], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const seen = new Map<string, number>();
  const lines = readLines(child.stdout);
  const first = await Promise.race([lines.next(), Bun.sleep(10_000).then(() => null)]);
  const port = first && !first.done ? (JSON.parse(first.value) as { port?: number }).port : undefined;
  if (typeof port !== "number") {
    child.kill();
    throw new Error(`stamp-sink.py did not start: ${await new Response(child.stderr).text()}`);
  }
  const reading = (async () => {
    for await (const line of lines) {
      const { messageId, arrivedAt } = JSON.parse(line) as { messageId: string | null; arrivedAt: number };
      if (messageId && !seen.has(messageId)) seen.set(messageId, arrivedAt);
    }
  })();
  return {
    host: "127.0.0.1",
    port,
    arrivals: () => seen,
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
      await reading.catch(() => {});
    },
  };
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
    }
  }
}
