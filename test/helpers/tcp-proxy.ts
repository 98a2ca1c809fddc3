// A TCP proxy a test can cut and restore, to take a database "down" under a running process.
// While down it accepts and immediately closes connections (the listening port stays bound, so
// coming back up never races another process for the port).
import { createServer, connect, type Socket } from "node:net";

export interface TcpProxy {
  port: number;
  /** Cut the open connections; new ones are closed at once until up(). */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let isUp = true;
  const server = createServer((client) => {
    client.on("error", () => {});
    if (!isUp) return void client.destroy();
    const upstream = connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    down() {
      isUp = false;
      for (const s of sockets) s.destroy();
    },
    up() {
      isUp = true;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
