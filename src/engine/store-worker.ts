// The database worker thread of offthread-store.ts: a connection (or pool) of its own, running the
// pass's claims and records with the very functions the pass uses on its own thread (localStore).
// Listed as an entry point in scripts/build.ts so that the compiled binary contains it.
import { openDatabase, type Database } from "../db/connect.ts";
import { localStore, type BatchStore } from "./batch-store.ts";
import { errorToWire, packRows, unpackRecord, type PackedRecord } from "./store-wire.ts";
import { normalJitPolicyAfterStartup } from "../runtime.ts";

normalJitPolicyAfterStartup();

interface Request {
  id: number;
  op: "open" | "claim" | "record" | "close";
  args: any;
}

const scope = globalThis as unknown as {
  onmessage: ((event: { data: Request }) => void) | null;
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
};

let db: Database | null = null;
let store: BatchStore | null = null;

async function handle({ op, args }: Request): Promise<[unknown, ArrayBuffer[]]> {
  switch (op) {
    case "open":
      // Two: a claim and a record at once is all a pass asks of it.
      db = await openDatabase(args.url, { busyTimeout: args.busyTimeout, maxConnections: 2 });
      store = localStore(db, args.worker);
      return [null, []];
    case "claim": {
      const batch = await store!.claim(args.size, args.now, args.leaseUntil);
      const rows = packRows(batch.rows);
      return [{ rows, suppressed: [...batch.dontSend.suppressed], version: batch.dontSend.version }, [rows.blob]];
    }
    case "record":
      await store!.record(unpackRecord(args as PackedRecord));
      return [null, []];
    case "close":
      await db?.close();
      db = store = null;
      return [null, []];
  }
}

scope.onmessage = ({ data }) => {
  handle(data).then(
    ([value, transfer]) => scope.postMessage({ id: data.id, value }, transfer),
    (error) => scope.postMessage({ id: data.id, error: errorToWire(error) }),
  );
};
