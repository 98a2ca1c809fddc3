// Prints each message (envelope, then the text) to stdout, as Django's console backend does.
import { asBuffer } from "../bytes.ts";
import type { Transport } from "./types.ts";

export function consoleTransport(write: (text: string) => void = (t) => void process.stdout.write(t)): Transport {
  return {
    name: "console",
    async send(message) {
      const text = asBuffer(message.raw).toString("utf8");
      const head = `MAIL FROM:<${message.envelope.from}>\n` + message.envelope.to.map((to) => `RCPT TO:<${to}>\n`).join("");
      write(head + text.replace(/\r\n/g, "\n").replace(/\n?$/, "\n") + "-".repeat(72) + "\n");
      return { accepted: [...message.envelope.to], rejected: [], response: "printed" };
    },
    async close() {},
  };
}
