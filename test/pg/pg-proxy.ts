// A TCP proxy in front of PostgreSQL that sees every protocol message the server sends and may drop
// it or cut the connection there. Plain TCP only (the clients here do not ask for TLS), so every byte
// from the server is a protocol message: a type byte, then an int32 length that counts itself.
//
// Two uses: drop NotificationResponse messages (LISTEN succeeds but nothing ever arrives, which is
// what a transaction-mode pooler such as PgBouncer does to a client), and cut the connection right
// after the server committed a transaction, before the client hears so (a lost acknowledgement).
import { connect, createServer, type Socket } from "node:net";

const NOTIFICATION = 0x41; // 'A'
const COMMAND_COMPLETE = 0x43; // 'C'

/** What to do with one message from the server: pass it on, drop it, or cut the connection there
 * (neither it nor anything after it reaches the client). `sent` is what the client has sent so far
 * on this connection, as latin1 text. */
type Verdict = "pass" | "drop" | "cut";
type Filter = (type: number, message: Buffer, connection: { sent: string }) => Verdict;

export interface Proxy {
  port: number;
  close(): Promise<void>;
}

export async function startPgProxy(host: string, port: number, filter: Filter): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    const connection = { sent: "" };
    client.on("data", (chunk: Buffer) => {
      connection.sent += chunk.toString("latin1");
      upstream.write(chunk);
    });
    let pending = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const keep: Buffer[] = [];
      let at = 0;
      while (pending.length - at >= 5) {
        const size = 1 + pending.readInt32BE(at + 1);
        if (pending.length - at < size) break;
        const message = pending.subarray(at, at + size);
        const verdict = filter(message[0]!, message, connection);
        if (verdict === "cut") {
          if (keep.length > 0) client.write(Buffer.concat(keep));
          client.destroy();
          upstream.destroy();
          return;
        }
        if (verdict === "pass") keep.push(message);
        at += size;
      }
      pending = pending.subarray(at);
      if (keep.length > 0) client.write(Buffer.concat(keep));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface NotifyDroppingProxy extends Proxy {
  dropped: number;
  /** Set to false to let notifications through again (the pooler was fixed, the server recovered). */
  dropping: boolean;
}

export async function startNotifyDroppingProxy(host: string, port: number): Promise<NotifyDroppingProxy> {
  const state = { dropped: 0, dropping: true };
  const proxy = await startPgProxy(host, port, (type) => {
    if (type !== NOTIFICATION || !state.dropping) return "pass";
    state.dropped++;
    return "drop";
  });
  return Object.assign(state, proxy);
}

/** Is this server message the CommandComplete of a COMMIT? */
export const isCommitComplete = (type: number, message: Buffer) =>
  type === COMMAND_COMPLETE && message.subarray(5, message.length - 1).toString("latin1") === "COMMIT";
