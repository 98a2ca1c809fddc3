// A stand-in for src/engine/store-worker.ts that answers "open" and then ends the thread on the next
// request without answering it: how a worker thread that crashes looks to offthread-store.ts.
const scope = globalThis as unknown as {
  onmessage: ((event: { data: { id: number; op: string } }) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
};
scope.onmessage = ({ data }) => {
  if (data.op === "open") return scope.postMessage({ id: data.id, value: null });
  process.exit(1);
};
