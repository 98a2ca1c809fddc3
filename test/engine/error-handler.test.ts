// The default error handler's view of errors, and the handler contract's checks.
import { expect, test } from "bun:test";
import { checkDecision, defaultErrorHandler, HandlerFailure, isDeliveryError } from "../../src/engine/error-handler.ts";

test("SMTP replies, nodemailer's transport codes and Node socket errors are delivery errors", () => {
  for (const code of ["EAUTH", "EENVELOPE", "EMESSAGE", "ECONNECTION", "ETIMEDOUT", "ESOCKET", "EDNS", "EPROTOCOL"]) {
    expect(isDeliveryError(Object.assign(new Error("x"), { code }))).toBe(true);
  }
  expect(isDeliveryError(Object.assign(new Error("550 no"), { responseCode: 550 }))).toBe(true);
  expect(isDeliveryError(Object.assign(new Error("refused"), { code: "ECONNREFUSED", syscall: "connect" }))).toBe(true);
});

test("programming errors and plain values are not delivery errors", () => {
  expect(isDeliveryError(new TypeError("x is undefined"))).toBe(false);
  expect(isDeliveryError("a string")).toBe(false);
  expect(isDeliveryError(null)).toBe(false);
  expect(isDeliveryError(Object.assign(new Error("x"), { code: "ERR_SOMETHING" }))).toBe(false);
});

test("the default handler answers what the error-class table suggests", async () => {
  const verdict = { kind: "reply-4xx" as const, responseCode: 421, permanent: false };
  const ctx = { transport: "smtp", logger: null as never, reconnect() {}, verdict, suggested: "deferred" as const };
  for (const error of [new TypeError("bug"), Object.assign(new Error("x"), { responseCode: 421 })]) {
    expect(await defaultErrorHandler(ctx, null as never, error)).toEqual({ action: "deferred" });
  }
  const permanent = { ...ctx, verdict: { kind: "message-5xx" as const, responseCode: 554, permanent: true }, suggested: "failed" as const };
  expect(await defaultErrorHandler(permanent, null as never, new Error("554"))).toEqual({ action: "failed" });
});

test("a decision may be a bare action or an object; anything else breaks the contract", () => {
  expect(checkDecision("sent")).toEqual({ action: "sent", newConnection: false });
  expect(checkDecision({ action: "deferred", newConnection: true })).toEqual({ action: "deferred", newConnection: true });
  expect(checkDecision({ action: "failed" })).toEqual({ action: "failed", newConnection: false });
  for (const bad of [undefined, null, "retry", { action: "later" }, ["sent"], 1]) {
    expect(() => checkDecision(bad)).toThrow(HandlerFailure);
  }
});
