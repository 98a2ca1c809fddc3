// Accepts everything and sends nothing: for staging systems and tests of the queue itself.
import type { Transport } from "./types.ts";

export function nullTransport(): Transport {
  return {
    name: "null",
    async send(message) {
      return { accepted: [...message.envelope.to], rejected: [], response: "discarded (null backend)" };
    },
    async close() {},
  };
}
