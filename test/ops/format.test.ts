import { describe, expect, test } from "bun:test";
import { crossedThresholds, parseThresholds } from "../../src/ops/check.ts";
import { humanAge, scrub, table } from "../../src/ops/format.ts";
import { headerBlock, parseShowKey } from "../../src/ops/show-view.ts";
import type { StatusReport } from "../../src/ops/status-report.ts";

describe("table", () => {
  const columns = [{ header: "id", right: true }, { header: "to", shrink: true }, { header: "subject", shrink: true }];
  const rows = [["7", "a-very-long-recipient@example.com", "a subject that is far too long for a narrow terminal"]];

  test("aligns columns and keeps everything when it fits", () => {
    expect(table(columns, rows)).toBe(
      "id  to                                 subject\n" +
        " 7  a-very-long-recipient@example.com  a subject that is far too long for a narrow terminal",
    );
  });

  test("shortens the widest text columns first, marking the cut, to fit the width", () => {
    const out = table(columns, rows, 60).split("\n");
    for (const line of out) expect(line.length).toBeLessThanOrEqual(60);
    expect(out[1]).toContain("…");
    // Balanced: neither text column is cut to its minimum while the other keeps its full length.
    const [, to, subject] = out[1]!.trim().split(/\s{2,}/);
    expect(Math.abs(to!.length - subject!.length)).toBeLessThanOrEqual(1);
  });

  test("a CR/LF inside a cell cannot break the table's lines", () => {
    expect(table([{ header: "e" }], [["line one\r\nline two"]]).split("\n")).toEqual(["e", "line one line two"]);
  });
});

test("humanAge", () => {
  expect([5, 125, 3 * 3600 + 300, 2 * 86400 + 7200].map(humanAge)).toEqual(["5s", "2m 5s", "3h 5m", "2d 2h"]);
});

test("scrub masks configured secrets and any password inside a URL", () => {
  expect(scrub("auth mailer/hunter22 at postgres://u:p%40ss@db/x", ["hunter22"])).toBe("auth mailer/*** at postgres://u:***@db/x");
  expect(scrub("postgres://db:5432/x at 12:30:00", [])).toBe("postgres://db:5432/x at 12:30:00");
});

test("show takes a numeric queue id or a Message-ID with or without brackets", () => {
  expect(parseShowKey("42")).toEqual({ id: 42 });
  expect(parseShowKey("<a@b>")).toEqual({ messageIds: ["<a@b>", "a@b"] });
  expect(parseShowKey("a@b")).toEqual({ messageIds: ["<a@b>", "a@b"] });
  expect(() => parseShowKey("")).toThrow("expected a queue id");
});

test("headerBlock stops at the first empty line and tolerates 8-bit bytes", () => {
  const data = new Uint8Array([...new TextEncoder().encode("Subject: x\r\nX-A: "), 0xff, ...new TextEncoder().encode("\r\n\r\nbody")]);
  expect(headerBlock(data)).toBe("Subject: x\nX-A: \ufffd");
});

describe("thresholds", () => {
  const report = { queued: 10, deferred: 2, failed: 0, oldest_queued_age_s: null } as unknown as StatusReport;

  test("a limit is crossed only when exceeded, and an empty queue has no age to cross", () => {
    expect(crossedThresholds(report, { maxQueued: 10, maxAge: 0, maxFailed: 0 })).toEqual([]);
    expect(crossedThresholds(report, { maxQueued: 9, maxDeferred: 1 })).toHaveLength(2);
  });

  test("values must be integers >= 0", () => {
    expect(parseThresholds({ maxAge: 600, maxQueued: "10" })).toEqual({ maxAge: 600, maxQueued: 10 });
    expect(() => parseThresholds({ maxFailed: -1 })).toThrow("--max-failed");
    expect(() => parseThresholds({ maxAge: true })).toThrow("--max-age");
  });
});
