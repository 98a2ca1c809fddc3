// The aliases(5) reader: entries, continuations, quoting, nesting, loops, and the targets that are
// never followed (programs, files, include lists).
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expandLocal, parseAliases } from "../../src/queue/aliases.ts";
import { tempDir } from "../helpers/db.ts";

const DEBIAN =
  "# /etc/aliases\nmailer-daemon: postmaster\npostmaster: root\nnobody: root\nhostmaster: root\nusenet: root\nnews: root\nwebmaster: root\nwww: root\nftp: root\nabuse: root\nnoc: root\nsecurity: root\nroot: ops@example.com\n";

describe("parseAliases", () => {
  test("simple entries: comma-separated targets in file order, spaces trimmed, empty targets skipped", () => {
    const t = parseAliases("staff: a@example.com,b@example.com ,  ,c@example.com,\nroot: ops@example.com\n", "f");
    expect(t.problems).toEqual([]);
    expect([...t.entries]).toEqual([
      ["staff", ["a@example.com", "b@example.com", "c@example.com"]],
      ["root", ["ops@example.com"]],
    ]);
  });

  test("names are case-insensitive: stored lower-cased, looked up in any case", () => {
    const t = parseAliases("PostMaster: Ops@Example.com\n", "f");
    expect([...t.entries.keys()]).toEqual(["postmaster"]);
    expect(expandLocal(t, "POSTMASTER")).toEqual(["Ops@Example.com"]);
  });

  test("quoted names and targets; a display name gives the bare address", () => {
    const t = parseAliases('"Ops Team": "a@example.com", "Bob Smith <b@example.com>", Carol <c@example.com>, "root"\n', "f");
    expect(t.problems).toEqual([]);
    expect(t.entries.get("ops team")).toEqual(["a@example.com", "b@example.com", "c@example.com", "root"]);
  });

  test("a line starting with a space or tab continues the entry before it", () => {
    const t = parseAliases("staff: a@example.com,\n  b@example.com,\n\tc@example.com\nnext: d@example.com\n", "f");
    expect(t.entries.get("staff")).toEqual(["a@example.com", "b@example.com", "c@example.com"]);
    expect(t.entries.get("next")).toEqual(["d@example.com"]);
  });

  test("comments and blank lines, even between an entry and its continuation, are ignored", () => {
    const t = parseAliases("# top\n\nstaff: a@example.com,\n  # indented comment\n\n  b@example.com\n   \n", "f");
    expect(t.problems).toEqual([]);
    expect([...t.entries]).toEqual([["staff", ["a@example.com", "b@example.com"]]]);
  });

  test("CRLF line ends read the same as LF", () => {
    const t = parseAliases("# c\r\nstaff: a@example.com,\r\n  b@example.com\r\nroot: staff\r\n", "f");
    expect(t.problems).toEqual([]);
    expect(t.entries.get("staff")).toEqual(["a@example.com", "b@example.com"]);
    expect(expandLocal(t, "root")).toEqual(["a@example.com", "b@example.com"]);
  });

  test("a duplicate name keeps the first entry and reports the later one", () => {
    const t = parseAliases("a: one@example.com\nA: two@example.com\n", "f");
    expect(t.entries.get("a")).toEqual(["one@example.com"]);
    expect(t.problems).toEqual(["f:2: duplicate entry for a; the first one is used"]);
  });

  test("malformed lines (no colon, empty name, a continuation with nothing before it) are reported and skipped", () => {
    const t = parseAliases('  orphan@example.com\njust words\n: empty@example.com\n"": quoted@example.com\nok: ok@example.com\n', "f");
    expect([...t.entries]).toEqual([["ok", ["ok@example.com"]]]);
    expect(t.problems).toEqual([
      "f:1: continuation line with no entry before it; skipped",
      'f:2: not "name: target, …"; skipped',
      'f:3: not "name: target, …"; skipped',
      'f:4: not "name: target, …"; skipped',
    ]);
  });

  test("a target that is neither an address nor a local name is dropped with a problem, not kept to fail every message", () => {
    const t = parseAliases('staff: bad name, a@, "x@example.com, y@example.com", good@example.com\nnone:\n', "f");
    expect(t.entries.get("staff")).toEqual(["good@example.com"]);
    expect(t.problems).toEqual([
      'f:1: "bad name" for staff: not an email address or a local name; dropped',
      'f:1: "a@" for staff: not a valid email address; dropped',
      'f:1: "x@example.com, y@example.com" for staff: not one address or local name; dropped',
      "f:2: no targets for none; mail to it stays addressed to none",
    ]);
    expect(expandLocal(t, "none")).toEqual(["none"]);
  });
});

describe("refused targets", () => {
  test("a program target (bare or quoted) is dropped with a problem", () => {
    const t = parseAliases('root: |/usr/bin/procmail, "|/bin/sh -c x", ops@example.com\n', "/etc/aliases");
    expect(t.entries.get("root")).toEqual(["ops@example.com"]);
    expect(t.problems).toEqual([
      '/etc/aliases:1: "|/usr/bin/procmail" for root: program targets are not supported (never run); dropped',
      '/etc/aliases:1: "|/bin/sh -c x" for root: program targets are not supported (never run); dropped',
    ]);
  });

  test("a file target is dropped with a problem", () => {
    const t = parseAliases("root: /var/mail/root, ops@example.com\n", "f");
    expect(t.entries.get("root")).toEqual(["ops@example.com"]);
    expect(t.problems).toEqual(['f:1: "/var/mail/root" for root: file targets are not supported (never written); dropped']);
  });

  test("an :include: list (any case) is dropped with a problem", () => {
    const t = parseAliases("staff: :include:/etc/mail/staff, :INCLUDE:/x, ops@example.com\n", "f");
    expect(t.entries.get("staff")).toEqual(["ops@example.com"]);
    expect(t.problems).toEqual([
      'f:1: ":include:/etc/mail/staff" for staff: :include: lists are not supported (never read); dropped',
      'f:1: ":INCLUDE:/x" for staff: :include: lists are not supported (never read); dropped',
    ]);
  });

  test("a refused form hidden in angle brackets is refused too", () => {
    const t = parseAliases("x: Bob <|/bin/true>, File </tmp/out>\n", "f");
    expect(t.entries.get("x")).toEqual([]);
    expect(t.problems.map((p) => p.replace(/^f:1: "[^"]*" for x: /, ""))).toEqual([
      "program targets are not supported (never run); dropped",
      "file targets are not supported (never written); dropped",
    ]);
  });

  test("refused targets are never run, written or read", () => {
    const dir = tempDir();
    try {
      const ran = join(dir.path, "ran");
      const written = join(dir.path, "written");
      const list = join(dir.path, "list");
      writeFileSync(list, "included@example.com\n");
      const t = parseAliases(`root: "|touch ${ran}", ${written}, :include:${list}\n`, "f");
      expect(t.problems).toHaveLength(3);
      expect(expandLocal(t, "root")).toEqual(["root"]);
      expect(existsSync(ran)).toBe(false);
      expect(existsSync(written)).toBe(false);
    } finally {
      dir.cleanup();
    }
  });

  test("an entry whose every target was refused expands to the name itself, so its mail is not lost", () => {
    const t = parseAliases("log: /var/log/mail, |/usr/bin/logger\n", "f");
    expect(t.entries.get("log")).toEqual([]);
    expect(expandLocal(t, "log")).toEqual(["log"]);
  });
});

describe("expandLocal", () => {
  test("a Debian default file: nested names end at the address, a name that is no alias stays itself", () => {
    const t = parseAliases(DEBIAN, "/etc/aliases");
    expect(t.problems).toEqual([]);
    expect(t.entries.size).toBe(13);
    expect(expandLocal(t, "webmaster")).toEqual(["ops@example.com"]);
    expect(expandLocal(t, "MAILER-DAEMON")).toEqual(["ops@example.com"]);
    expect(expandLocal(t, "www-data")).toEqual(["www-data"]);
  });

  test("nested aliases expand depth-first in file order, duplicates collapse case-insensitively keeping the first spelling", () => {
    const t = parseAliases("staff: admin, ops@example.com, dev\nadmin: boss@example.com, OPS@example.com\ndev: alice, bob@example.com\n", "f");
    expect(expandLocal(t, "staff")).toEqual(["boss@example.com", "OPS@example.com", "alice", "bob@example.com"]);
  });

  test("a name in its own list is kept as itself (root: root, a@x), as sendmail does", () => {
    const t = parseAliases("root: root, a@example.com\n", "f");
    expect(expandLocal(t, "root")).toEqual(["root", "a@example.com"]);
  });

  test("a \\name target is that local name, not expanded further", () => {
    const t = parseAliases("admin: \\root, a@example.com\nroot: ops@example.com\n", "f");
    expect(t.problems).toEqual([]);
    expect(expandLocal(t, "admin")).toEqual(["root", "a@example.com"]);
  });

  // The rule: a name met again while it is still being expanded is kept as itself, so a loop ends at
  // the name that closes it. `a: b`, `b: a` gives ["a"] from a and ["b"] from b.
  test("a loop terminates at the name that closes it", () => {
    const t = parseAliases("a: b\nb: a\n", "f");
    expect(expandLocal(t, "a")).toEqual(["a"]);
    expect(expandLocal(t, "b")).toEqual(["b"]);
    const u = parseAliases("a: b\nb: a, x@example.com\n", "f");
    expect(expandLocal(u, "a")).toEqual(["a", "x@example.com"]);
  });

  test("many paths to the same names are expanded once each (no exponential blow-up)", () => {
    // Each level names the next one four times: 4^19 paths through 20 names, which a walk that
    // re-expands every path would not finish.
    const lines = Array.from({ length: 19 }, (_, i) => `n${i}: n${i + 1}, N${i + 1}, n${i + 1}, N${i + 1}`).concat("n19: end@example.com").join("\n");
    expect(expandLocal(parseAliases(lines, "f"), "n0")).toEqual(["end@example.com"]);
  });

  test("nesting deeper than 20 is an error naming the chain", () => {
    const lines = Array.from({ length: 25 }, (_, i) => `n${i}: n${i + 1}`).join("\n");
    const t = parseAliases(lines, "f");
    expect(() => expandLocal(t, "n0")).toThrow(/nested deeper than 20: n0 -> n1 -> .* -> n20$/);
    expect(expandLocal(t, "n5")).toEqual(["n25"]);
  });
});
