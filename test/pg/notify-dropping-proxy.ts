// A TCP proxy in front of PostgreSQL that passes everything except NotificationResponse messages:
// LISTEN succeeds but no notification ever arrives, which is what a transaction-mode pooler
// (PgBouncer) does to a client. Plain TCP only (the clients here do not ask for TLS), so every byte
// from the server is a protocol message: a type byte, then an int32 length that counts itself.
import { connect, createServer, type Socket } from "node:net";

const NOTIFICATION = 0x41; // 'A'

export interface Proxy {
  port: number;
  dropped: number;
  /** Set to false to let notifications through again (the pooler was fixed, the server recovered). */
  dropping: boolean;
  close(): Promise<void>;
}

export async function startNotifyDroppingProxy(host: string, port: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const proxy: Proxy = { port: 0, dropped: 0, dropping: true, close: async () => {} };
  const server = createServer((client) => {
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const keep: Buffer[] = [];
      let at = 0;
      while (pending.length - at >= 5) {
        const size = 1 + pending.readInt32BE(at + 1);
        if (pending.length - at < size) break;
        if (pending[at] === NOTIFICATION && proxy.dropping) proxy.dropped++;
        else keep.push(pending.subarray(at, at + size));
        at += size;
      }
      pending = pending.subarray(at);
      if (keep.length > 0) client.write(Buffer.concat(keep));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  proxy.port = (server.address() as { port: number }).port;
  proxy.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
