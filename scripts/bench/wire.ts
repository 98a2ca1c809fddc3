// The wire: postfix's smtp-source (an SMTP client in C that does nothing else) sending to the same
// sink, in `sessions` parallel sessions that each keep their connection (-d), messages of the bench's
// size. What a client that cost nothing could reach on this machine, against which a drain is judged
// (drain ÷ wire); the nodemailer ceilings (ceiling.ts) stay beside it.
import { existsSync } from "node:fs";
import type { Bench } from "./context.ts";
import { benchMessages } from "./messages.ts";
import { round, run } from "./proc.ts";
import { quietGate, type Quiet } from "./quiet.ts";

const SMTP_SOURCE = "/usr/sbin/smtp-source";

/** The header block smtp-source writes before its body (From, To, Date, Message-Id, blank line). */
const SOURCE_HEADER_BYTES = 122;

/** The bench messages' average size in bytes. */
function benchMessageBytes(sample = 1000): number {
  const messages = benchMessages(sample);
  return Math.round(messages.reduce((n, m) => n + Buffer.byteLength(m.raw), 0) / messages.length);
}

export const wireAvailable = () => existsSync(SMTP_SOURCE);

export interface SourceRun {
  count: number;
  sessions: number;
  /** smtp-source's body length, chosen so that its messages are the size of the bench's. */
  bodyBytes: number;
  ms: number;
  rate: number;
  gate: Quiet;
}

/** `count` bench-sized messages from smtp-source in `sessions` parallel sessions, each keeping its
 * connection (`reuse`, -d) or opening one per message; after the quiet gate, timed spawn to exit. */
export async function smtpSource(host: string, port: number, count: number, sessions: number, reuse: boolean): Promise<SourceRun> {
  const bodyBytes = Math.max(1, benchMessageBytes() - SOURCE_HEADER_BYTES);
  const gate = await quietGate();
  const result = await run([
    SMTP_SOURCE, "-s", String(sessions), ...(reuse ? ["-d"] : []), "-m", String(count), "-l", String(bodyBytes),
    "-f", "app@example.test", "-t", "user@example.test", `${host}:${port}`,
  ], { timeoutMs: 600_000 });
  if (result.code !== 0) throw new Error(`smtp-source exited ${result.code}: ${result.stderr.trim().slice(0, 400)}`);
  return { count, sessions, bodyBytes, ms: round(result.ms), rate: round(count / (result.ms / 1000), 0), gate };
}


export async function wireOnce(bench: Bench, count: number, sessions: number): Promise<SourceRun> {
  const before = bench.sink.count();
  const figure = await smtpSource(bench.sink.host, bench.sink.port, count, sessions, true);
  // smtp-source exits after its last reply: every message has arrived.
  await bench.sink.waitFor(before + count, 10_000);
  return figure;
}
