// django-mailer's helpers on Bun and SQLite: what they queue, sendMassMail's all-or-none, and the
// admins/managers lists.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { DataError } from "../../src/errors.ts";
import { mailAdmins, mailManagers, sendHtmlMail, sendMail, sendMassMail } from "../../src/queue/mail-helpers.ts";
import { openQueue } from "../../src/queue/open.ts";
import type { Queue } from "../../src/queue/queue.ts";
import { parse, testQueue, type TestQueue } from "../helpers/intake.ts";

describe("mail helpers", () => {
  let tq: TestQueue;
  let queue: Queue;
  beforeEach(async () => {
    tq = await testQueue("sqlite", `[queue]\naliases = ""\ndefault_domain = "example.org"\nadmins = ["ops@example.com"]\n`);
    queue = await openQueue({ config: tq.config });
  });
  afterEach(async () => {
    await queue.close();
    await tq.cleanup();
  });

  test("sendMail and sendHtmlMail queue one message each and return its id; priority and HTML apply", async () => {
    expect(await sendMail("Hi", "text", "app@example.com", ["a@example.com", "b@example.com"], { queue, priority: "high" })).toEqual([1]);
    expect(await sendHtmlMail("Hi", "text", "<b>html</b>", undefined, ["c@example.com"], { queue })).toEqual([2]);
    const [plain, html] = await tq.rows();
    expect([plain!.envelopeTo, plain!.priority]).toEqual([["a@example.com", "b@example.com"], 1]);
    const parsed = await parse(html!.raw);
    expect([parsed.text?.trim(), parsed.html]).toEqual(["text", "<b>html</b>"]);
    expect(html!.envelopeFrom).toEndWith("@example.org"); // no from: the login at default_domain
  });

  test("sendMassMail queues all in one transaction, or nothing when one message is bad", async () => {
    await expect(sendMassMail([["a", "b", "app@example.com", ["x@example.com"]], ["c", "d", "app@example.com", ["not an address"]]], { queue })).rejects.toBeInstanceOf(DataError);
    expect(await tq.rows()).toHaveLength(0);
    expect(await sendMassMail([["a", "b", "app@example.com", ["x@example.com"]], ["c", "d", "app@example.com", ["y@example.com"]]], { queue })).toEqual([1, 2]);
  });

  test("mailAdmins goes to [queue] admins; mailManagers with no managers queues nothing", async () => {
    expect(await mailAdmins("Disk full", "db1", { queue })).toEqual([1]);
    expect(await mailManagers("Report", "x", { queue })).toEqual([]);
    expect((await tq.rows()).map((r) => r.envelopeTo)).toEqual([["ops@example.com"]]);
  });
});
