// The PostgreSQL connections Kysely runs on: up to `max` postgres.js instances of ONE connection
// each, handed out through the `reserve()` interface kysely-postgres-js uses for every query and
// transaction.
//
// Why not one postgres.js pool of `max` connections: in postgres.js 3.4.9 (upstream issues
// porsager/postgres#1208, #1154, #1066) a reserved connection that the server closes (a restart,
// pg_terminate_backend, a dropped network) is put back among the *open* connections by release(),
// and the next query given to it is written to a null socket: an uncaught TypeError, and a promise
// that never settles. One lost connection during a database restart thus froze every later pass
// until the process was restarted. With one connection per instance we know exactly which
// reservation a close belongs to (postgres.js's onclose says only "some connection"): that
// reservation's further statements fail at once with CONNECTION_CLOSED (a temporary error the
// engine retries or waits out), and the instance is discarded instead of reused.
//
// Connections are retired here too, not by postgres.js's own timers (idle_timeout, and max_lifetime,
// 30 to 60 minutes by default): a reserve() made as one of those timers was ending the connection
// never settled (reproduced for both: a loop of reservations hung within a few dozen), and the pass
// waiting for it froze runmailer-pg for good with its lock held, 30 minutes into a soak run. Here a
// slot is taken out of the list in the same turn that decides to close it: when it has been idle
// for idle_timeout, or when it is released past its lifetime.
//
// No type query either (fetch_types: false): postgres.js runs one on every new connection to learn
// the array types, which mailer never uses, and it was 3 ms of every PostgreSQL command's start-up.
//
// A slot's connection is opened by a plain statement of its own before the slot is handed out, so a
// connection that cannot be opened (refused, authentication, no such database) costs its slot there
// and then, whatever the error. (It began as the way around postgres.js's reserve(), which never
// answered when it had to open the connection without the type query; reserve() is no longer used.)
import postgres from "postgres";

type Options = postgres.Options<Record<string, postgres.PostgresType>>;

interface Slot {
  sql: postgres.Sql<any>;
  /** The server closed its connection: never reserve it again. */
  closed: boolean;
  busy: boolean;
  /** Its connection is open: a plain statement ran on it (see the header on fetch_types). */
  connected: boolean;
  /** Closes the slot when it has been idle for idle_timeout (only while it is not busy). */
  idle?: ReturnType<typeof setTimeout>;
  /** When it is retired instead of reused (Date.now() milliseconds). */
  retireAt: number;
}

/** What kysely-postgres-js needs of a postgres.js instance: it must be a function with `reserve`. */
export type Reservable = postgres.Sql<any>;

/** Kysely's connections, and one statement on them without Kysely (`read`). */
export type PgConnections = Reservable & { read(text: string, parameters: readonly unknown[]): Promise<unknown[]> };

/** Errors after which a connection is unusable: it was closed, or the server said FATAL (admin
 * shutdown, crash recovery, …), which it always follows by closing the connection. */
const LOSS_CODES = new Set([
  "CONNECTION_CLOSED", "CONNECTION_DESTROYED", "CONNECTION_ENDED", "CONNECT_TIMEOUT",
  "ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "57P01", "57P02", "57P03",
]);

function isConnectionLoss(error: unknown): boolean {
  const e = error as { code?: unknown; severity?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  return LOSS_CODES.has(code) || code.startsWith("08") || e?.severity === "FATAL" || e?.severity === "PANIC";
}

const emptyResult = (command: string) => Object.assign([], { command, count: 0 });
/** Kysely may cancel a pending query: every promise handed to it has cancel(). */
const settled = <T>(promise: Promise<T>) => Object.assign(promise, { cancel() {} });

function connectionClosed(): Error {
  return Object.assign(new Error("database connection closed (the server ended it) before this statement"), {
    code: "CONNECTION_CLOSED",
  });
}

export function reservableConnections(url: string, options: Options & { max: number }): PgConnections {
  const { max, idle_timeout: idleSeconds, max_lifetime: lifetimeSeconds, ...single } = options;
  // postgres.js's own default: a lifetime of 30 to 60 minutes, so that connections are renewed.
  const lifetimeMs = () => (typeof lifetimeSeconds === "number" ? lifetimeSeconds : 60 * (30 + Math.random() * 30)) * 1000;
  const slots: Slot[] = [];
  const waiters: Array<() => void> = [];
  let ended = false;

  const wakeOne = () => waiters.shift()?.();
  const discard = (slot: Slot) => {
    clearTimeout(slot.idle);
    const at = slots.indexOf(slot);
    if (at >= 0) slots.splice(at, 1);
    void slot.sql.end({ timeout: 0 }).catch(() => {});
    wakeOne();
  };
  const newSlot = (): Slot => {
    const slot: Slot = { sql: undefined as never, closed: false, busy: false, connected: false, retireAt: Date.now() + lifetimeMs() };
    slot.sql = postgres(url, {
      ...single,
      max: 1,
      // Explicit zeros (no timer), which also win over the URL's and the environment's (PGIDLE_TIMEOUT).
      idle_timeout: 0,
      max_lifetime: 0,
      fetch_types: false,
      onclose: () => {
        // The server or the network closed it (or we ended it): an idle slot is simply dropped.
        slot.closed = true;
        if (!slot.busy) discard(slot);
      },
    });
    slots.push(slot);
    return slot;
  };
  const takeSlot = async (): Promise<Slot> => {
    for (;;) {
      if (ended) throw Object.assign(new Error("database connections are closed"), { code: "CONNECTION_ENDED" });
      // Marked busy before returning: no other reserve() may take it in between.
      const slot = slots.find((s) => !s.busy && !s.closed) ?? (slots.length < max ? newSlot() : null);
      if (slot) {
        slot.busy = true;
        clearTimeout(slot.idle);
        return slot;
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };

  /** A slot whose connection is open (see the header on fetch_types), taken for the caller. */
  const takeOpenSlot = async (): Promise<Slot> => {
    const slot = await takeSlot();
    try {
      if (!slot.connected) {
        await slot.sql.unsafe("select 1");
        slot.connected = true;
      }
      // Closed meanwhile: postgres.js would open a new connection under the caller's statements.
      if (slot.closed) throw connectionClosed();
      return slot;
    } catch (error) {
      discard(slot);
      throw error;
    }
  };

  /** Back among the free slots, unless it is closed or past its lifetime. */
  const giveBack = (slot: Slot) => {
    slot.busy = false;
    // A closed connection is never handed back: that is the upstream bug this file avoids.
    if (slot.closed || Date.now() >= slot.retireAt) {
      slot.closed = true;
      return discard(slot);
    }
    if (idleSeconds) {
      slot.idle = setTimeout(() => {
        // A timer that fires after the slot was taken again is a no-op (taking it clears the timer).
        if (slot.busy) return;
        slot.closed = true;
        discard(slot);
      }, idleSeconds * 1000);
      slot.idle.unref?.();
    }
    wakeOne();
  };

  /** Errors that end the connection close its slot for good; the error goes on to the caller. */
  const watch = <T>(slot: Slot, query: Promise<T>, onLoss?: () => T): Promise<T> =>
    query.catch((error: unknown) => {
      if (!isConnectionLoss(error)) throw error;
      slot.closed = true; // the server is gone for this connection: never use it again
      if (onLoss) return onLoss();
      throw error;
    });

  /** A slot for Kysely, for one statement or one transaction. Its statements go to the slot's own
   * instance, not through postgres.js's reserve(), which builds a whole new query function on every
   * call (more CPU than a short statement itself): the slot is ours alone while it is busy, and one
   * connection per instance keeps them on one connection, in order. postgres.js would open a new
   * connection for a statement sent after its connection closed, which in a transaction would
   * commit that statement on its own; it never gets one: a closed connection marks the slot closed
   * (onclose, or watch() on a loss error) before anything else is sent, and every later statement
   * fails instead. */
  async function reserve() {
    const slot = await takeOpenSlot();
    return {
      unsafe(text: string, parameters?: unknown[], queryOptions?: postgres.UnsafeQueryOptions) {
        const rollback = /^\s*rollback\s*$/i.test(text);
        // The server ends a transaction with its connection: a rollback has nothing left to do,
        // and sending it to a dying connection could hang (or make Kysely throw a TypeError of its
        // own when the rollback fails). Anything else must fail, never reach a dead connection.
        if (slot.closed) return settled(rollback ? Promise.resolve(emptyResult("ROLLBACK")) : Promise.reject(connectionClosed()));
        const query = slot.sql.unsafe(text, parameters as never, queryOptions);
        const watched = watch(slot, query as Promise<unknown>, rollback ? () => emptyResult("ROLLBACK") : undefined);
        return Object.assign(watched, { cancel: () => query.cancel() });
      },
      release: () => giveBack(slot),
    };
  }

  /** One statement outside any transaction, without Kysely (connect.ts executeQuery on PostgreSQL). */
  async function read(text: string, parameters: readonly unknown[]): Promise<unknown[]> {
    const slot = await reserve();
    try {
      return (await slot.unsafe(text, parameters as unknown[], { prepare: true })) as unknown[];
    } finally {
      slot.release();
    }
  }

  async function end(endOptions?: { timeout?: number }) {
    ended = true;
    for (const wake of waiters.splice(0)) wake();
    // An idle connection is told to terminate, and not waited for while the server closes it (8 ms
    // of every PostgreSQL command's exit here); one still busy is let finish its statements first.
    const ending = (s: Slot) => s.sql.end(s.busy ? endOptions : { timeout: 0 });
    await Promise.all(slots.splice(0).map((s) => (clearTimeout(s.idle), ending(s).catch(() => {}))));
  }

  return Object.assign(
    () => {
      throw new Error("use reserve(): these connections serve Kysely only");
    },
    { reserve, read, end, options: { ...single, max } },
  ) as unknown as PgConnections;
}
