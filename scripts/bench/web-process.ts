// `mailer web` as a process for the bench steps that talk to it (web, api): started on a free loopback
// port, the port read from its "listening" log line; stderr keeps being drained so it never blocks.
import type { Bench } from "./context.ts";

export async function startWeb(bench: Bench, config: string, cwd: string) {
  const proc = Bun.spawn([bench.binary, "web", "--config", config, "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "info"], { cwd, stderr: "pipe", stdout: "ignore" });
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`mailer web exited before listening: ${text}`);
    text += new TextDecoder().decode(value);
    const line = text.split("\n").find((l) => l.includes("web console listening"));
    if (line) {
      void (async () => {
        while (!(await reader.read()).done);
      })();
      return { proc, base: `http://127.0.0.1:${JSON.parse(line).port}` };
    }
  }
}
