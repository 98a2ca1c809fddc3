// One .eml file per message in a directory. Written to a hidden temporary name and renamed, so a
// reader watching the directory never sees half a message.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Transport } from "./types.ts";

export function fileTransport(dir: string): Transport {
  let made = false;
  return {
    name: "file",
    async send(message) {
      if (!made) {
        mkdirSync(dir, { recursive: true });
        made = true;
      }
      const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
      const name = `${stamp}-${message.id ?? "x"}-${randomBytes(4).toString("hex")}.eml`;
      const temp = join(dir, `.${name}.tmp`);
      writeFileSync(temp, message.raw);
      renameSync(temp, join(dir, name));
      return { accepted: [...message.envelope.to], rejected: [], response: `written to ${name}` };
    },
    async close() {},
  };
}
