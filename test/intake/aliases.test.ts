// The aliases(5) reader: entries, continuations, quoting, nesting, loops, and the targets that are
// never followed (programs, files, include lists).
import { describe, expect, test } from "bun:test";
import { expandLocal, parseAliases } from "../../src/queue/aliases.ts";

const DEBIAN = "# /etc/aliases\nmailer-daemon: postmaster\npostmaster: root\nnobody: root\nhostmaster: root\nusenet: root\nnews: root\nwebmaster: root\nwww: root\nftp: root\nabuse: root\nnoc: root\nsecurity: root\nroot: ops@example.com\n";

describe("parseAliases", () => {
  test("a Debian default file: nested names end at the address, a name that is no alias stays itself", () => {
    const t = parseAliases(DEBIAN, "/etc/aliases");
    expect(t.problems).toEqual([]);
    expect(t.entries.size).toBe(13);
    expect(expandLocal(t, "webmaster")).toEqual(["ops@example.com"]);
    expect(expandLocal(t, "MAILER-DAEMON")).toEqual(["ops@example.com"]);
    expect(expandLocal(t, "www-data")).toEqual(["www-data"]);
  });

  test("continuation lines, quoted names and targets, display names, CRLF line ends, comments", () => {
    const t = parseAliases('# c\r\n"ops team": a@example.com,\r\n  "Bob Smith <b@example.com>",\r\n\tc@example.com\r\n\r\n  # indented comment\r\nx: Name <x@example.com>\r\n', "f");
    expect(t.problems).toEqual([]);
    expect(t.entries.get("ops team")).toEqual(["a@example.com", "b@example.com", "c@example.com"]);
    expect(t.entries.get("x")).toEqual(["x@example.com"]);
  });

  test("program, file and :include: targets are dropped with a problem naming the line; a name left with none stays itself", () => {
    const t = parseAliases('root: |/usr/bin/procmail, "|/bin/sh -c x", /var/mail/root, :include:/etc/list, ops@example.com\nlog: /var/log/mail\n', "/etc/aliases");
    expect(t.entries.get("root")).toEqual(["ops@example.com"]);
    expect(t.problems).toHaveLength(5);
    expect(t.problems[0]).toBe('/etc/aliases:1: "|/usr/bin/procmail" for root: program targets are not supported (never run); dropped');
    expect(t.problems[4]).toStartWith("/etc/aliases:2: ");
    expect(expandLocal(t, "log")).toEqual(["log"]);
  });

  test("a duplicate name keeps the first entry; a line without a colon is skipped; both are reported", () => {
    const t = parseAliases("a: one@example.com\nA: two@example.com\njust words\n: empty@example.com\n", "f");
    expect(t.entries.get("a")).toEqual(["one@example.com"]);
    expect(t.problems).toEqual([
      "f:2: duplicate entry for a; the first one is used",
      'f:3: not "name: target, …"; skipped',
      'f:4: not "name: target, …"; skipped',
    ]);
  });
});

describe("expandLocal", () => {
  test("a name in its own list is kept as itself (root: root, a@x), duplicates collapse", () => {
    const t = parseAliases("root: root, ops@example.com, admin\nadmin: OPS@example.com, boss@example.com\n", "f");
    expect(expandLocal(t, "root")).toEqual(["root", "ops@example.com", "boss@example.com"]);
  });

  test("a loop ends at the name that closes it", () => {
    const t = parseAliases("a: b\nb: a, x@example.com\n", "f");
    expect(expandLocal(t, "a")).toEqual(["a", "x@example.com"]);
  });

  test("nesting deeper than 20 is an error naming the chain", () => {
    const lines = Array.from({ length: 25 }, (_, i) => `n${i}: n${i + 1}`).join("\n");
    expect(() => expandLocal(parseAliases(lines, "f"), "n0")).toThrow(/nested deeper than 20: n0 -> n1 -> /);
  });
});
