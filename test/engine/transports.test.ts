// Transport plumbing: result normalisation and connection replacement.
import { expect, test } from "bun:test";
import { TransportHolder } from "../../src/engine/transport-holder.ts";
import { normaliseResult } from "../../src/transports/nodemailer-adapter.ts";
import type { SendResult, Transport } from "../../src/transports/types.ts";

const message = { envelope: { from: "a@x", to: ["b@x", "c@x"] }, raw: new Uint8Array() };

test("a transport that does not report recipients delivered to all of them", () => {
  expect(normaliseResult(message, { response: "sent" })).toEqual({ accepted: ["b@x", "c@x"], rejected: [], response: "sent" });
  expect(normaliseResult(message, undefined)).toEqual({ accepted: ["b@x", "c@x"], rejected: [], response: "" });
});

test("address objects and rejection reasons are flattened", () => {
  const result = normaliseResult(message, {
    accepted: [{ address: "b@x" }],
    rejected: ["c@x"],
    rejectedErrors: [new Error("550 no such user")],
    response: "250 ok",
  });
  expect(result).toEqual({ accepted: ["b@x"], rejected: ["c@x"], rejectedReasons: ["550 no such user"], response: "250 ok" });
});

test("reconnect closes the old transport only once its sends in flight are done, and builds a new one", async () => {
  const made: Array<{ closed: boolean; release?: (r: SendResult) => void }> = [];
  const holder = new TransportHolder(async () => {
    const state: { closed: boolean; release?: (r: SendResult) => void } = { closed: false };
    made.push(state);
    const transport: Transport = {
      name: "t",
      send: () => new Promise((resolve) => (state.release = resolve)),
      close: async () => void (state.closed = true),
    };
    return transport;
  });
  const first = holder.send(message);
  await Bun.sleep(0);
  holder.reconnect();
  await Bun.sleep(0);
  expect(made[0]!.closed).toBe(false);
  made[0]!.release!({ accepted: [], rejected: [], response: "" });
  await first;
  expect(made[0]!.closed).toBe(true);
  const second = holder.send(message);
  await Bun.sleep(0);
  expect(made).toHaveLength(2);
  made[1]!.release!({ accepted: [], rejected: [], response: "" });
  await second;
  await holder.close();
  expect(made[1]!.closed).toBe(true);
});

test("a transport that fails to build is not cached: the next use tries again", async () => {
  let attempts = 0;
  const holder = new TransportHolder(async () => {
    attempts++;
    if (attempts === 1) throw new Error("not yet");
    return { name: "t", send: async () => ({ accepted: [], rejected: [], response: "" }), close: async () => {} };
  });
  await expect(holder.ready()).rejects.toThrow("not yet");
  await holder.ready();
  expect(attempts).toBe(2);
});
