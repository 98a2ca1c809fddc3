// `mailer dont-send add|remove|list` through the binary, on both databases.
import { afterEach, beforeEach, expect } from "bun:test";
import { runMailer } from "../helpers/cli.ts";
import { forEachDialect, pgAvailable , dialectAvailable } from "../helpers/dialects.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";

forEachDialect((dialect, it) => {
  let tq: TestQueue;
  beforeEach(async () => {
    if (!dialectAvailable(dialect)) return;
    tq = await testQueue(dialect);
  });
  afterEach(async () => tq?.cleanup());
  const dontSend = (...args: string[]) => runMailer(["dont-send", ...args, "--config", tq.config]);
  const listed = async () => (await dontSend("list")).stdout.split("\n").filter(Boolean).map((l) => l.split("\t")[0]);

  it("adds bare or 'Name <addr>' addresses once (case-insensitively), lists and removes them in any case", async () => {
    expect((await dontSend("add", "Bounced <Bounced@Example.com>", "spam@example.com")).stdout).toBe(
      "added: Bounced <Bounced@Example.com>\nadded: spam@example.com\n",
    );
    expect((await dontSend("add", "BOUNCED@example.COM")).stdout).toBe("already listed: BOUNCED@example.COM\n");
    expect(await listed()).toEqual(["Bounced@Example.com", "spam@example.com"]);
    expect((await dontSend("remove", "bounced@example.com")).stdout).toBe("removed: bounced@example.com\n");
    expect((await dontSend("remove", "bounced@example.com")).stdout).toBe("not listed: bounced@example.com\n");
    expect(await listed()).toEqual(["spam@example.com"]);
  });

  it("refuses a bad address with 65 before changing anything, and a bad action with 64", async () => {
    const bad = await dontSend("add", "ok@example.com", "not an address");
    expect(bad.code).toBe(65);
    expect(await listed()).toEqual([]);
    expect((await dontSend("block", "x@example.com")).code).toBe(64);
    expect((await dontSend("add")).code).toBe(64);
  });
});
