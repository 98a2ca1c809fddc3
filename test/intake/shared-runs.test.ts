// SharedRuns' runs that wait to be wanted (`ready`, ask().need()), in memory.
import { expect, test } from "bun:test";
import { SharedRuns } from "../../src/queue/shared-runs.ts";

function recorder() {
  const runs: number[][] = [];
  const shared = new SharedRuns<number, number>(async (inputs) => (runs.push(inputs), inputs.map((n) => n * 10)), { ready: (waiting) => waiting >= 3 });
  return { runs, shared };
}

test("a run waits until `ready` says enough callers wait, and then serves them all", async () => {
  const { runs, shared } = recorder();
  const [a, b] = [shared.ask(1), shared.ask(2)];
  await Bun.sleep(10);
  expect(runs).toEqual([]);
  const c = shared.ask(3);
  expect(await Promise.all([a.answer, b.answer, c.answer])).toEqual([10, 20, 30]);
  expect(runs).toEqual([[1, 2, 3]]);
});

test("a caller that needs its answer begins the run; a need after its run was taken asks for nothing more", async () => {
  const { runs, shared } = recorder();
  const a = shared.ask(1);
  const b = shared.ask(2);
  await Bun.sleep(10);
  expect(runs).toEqual([]);
  b.need();
  expect(await a.answer).toBe(10);
  expect(runs).toEqual([[1, 2]]);
  a.need();
  await Bun.sleep(10);
  expect(runs).toEqual([[1, 2]]);
  // Asked while nothing runs and not needed: it waits again.
  const c = shared.ask(3);
  await Bun.sleep(10);
  expect(runs).toEqual([[1, 2]]);
  c.need();
  expect(await c.answer).toBe(30);
});

test("without `ready`, request() begins at once as before", async () => {
  const runs: number[][] = [];
  const shared = new SharedRuns<number, number>(async (inputs) => (runs.push(inputs), inputs));
  expect(await shared.request(7)).toBe(7);
  expect(runs).toEqual([[7]]);
});
