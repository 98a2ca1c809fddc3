// Where smtpd listens and who may talk to it. The intake must never become an open relay: a
// non-loopback address needs AUTH or a client allow-list, unless the operator says so explicitly.
import { BlockList, isIP } from "node:net";
import { ConfigError } from "../errors.ts";

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:2525", "[::1]:2525", "localhost:2525", ":2525" (every interface). */
export function parseListen(text: string, origin: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${origin}: expected host:port (e.g. 127.0.0.1:2525 or [::1]:2525), got ${JSON.stringify(text)}`);
  }
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return /^::ffff:127\./.test(h);
}

export interface RelayPolicy {
  authRequired: boolean;
  allowFrom: string[];
  allowOpenRelay: boolean;
  force: boolean;
}

/** Throws ConfigError (exit 78) for a listen address that would make an open relay. */
export function checkRelayPolicy(listen: ListenAddress, policy: RelayPolicy): void {
  if (isLoopback(listen.host) || policy.authRequired || policy.allowFrom.length > 0) return;
  if (policy.allowOpenRelay || policy.force) return;
  throw new ConfigError(
    `smtpd: refusing to listen on ${listen.host}:${listen.port} without AUTH (smtpd.user) or a client allow-list ` +
      `(smtpd.allow_from): anyone who can reach it could queue mail. Set smtpd.allow_open_relay = true or pass --force if that is intended`,
  );
}

/** Client allow-list from smtpd.allow_from: addresses or CIDR ranges, IPv4 or IPv6. Empty = anyone. */
export function allowList(entries: string[]): ((ip: string) => boolean) | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", bits] = entry.trim().split("/");
    const family = isIP(address);
    if (family === 0 || (bits !== undefined && !/^\d+$/.test(bits))) {
      throw new ConfigError(`smtpd.allow_from: expected an IP address or CIDR range, got ${JSON.stringify(entry)}`);
    }
    const type = family === 4 ? "ipv4" : "ipv6";
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (ip) => {
    const plain = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 4 ? "ipv4" : "ipv6");
  };
}
