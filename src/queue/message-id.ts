import { hostname } from "node:os";

let host: string | null = null;

/** `<uuid@host>`: unique without coordination, so every enqueue path can assign one. */
export function newMessageId(): string {
  host ??= hostname() || "localhost";
  return `<${crypto.randomUUID()}@${host}>`;
}
