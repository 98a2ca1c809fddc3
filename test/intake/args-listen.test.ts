// The argument parsers (sendmail's getopt-style flags, `mailer queue` flags) and smtpd's listen policy.
import { describe, expect, test } from "bun:test";
import { ConfigError, DataError, UsageError } from "../../src/errors.ts";
import { parseQueueArgs } from "../../src/intake/queue-args.ts";
import { allowList, checkRelayPolicy, isLoopback, parseListen } from "../../src/intake/listen.ts";
import { parseSendmailArgs } from "../../src/intake/sendmail-args.ts";

describe("sendmail arguments", () => {
  test("-t, -i, -oi, bundled -ti, attached and separate -f/-F, -r as -f, and -f '<>' (null sender)", () => {
    expect(parseSendmailArgs(["-ti", "-fme@example.com", "-F", "Cron Daemon", "a@example.com"])).toMatchObject({
      extractRecipients: true, ignoreDots: true, sender: "me@example.com", fullName: "Cron Daemon", recipients: ["a@example.com"],
    });
    expect(parseSendmailArgs(["-oi", "-r", "x@example.com"])).toMatchObject({ ignoreDots: true, sender: "x@example.com" });
    expect(parseSendmailArgs(["-f", "<>", "a@example.com"]).sender).toBe("");
  });

  test("legacy flags are accepted and ignored, those with an argument consume it (-odi -oem -B 8BITMIME -N never -bm)", () => {
    const args = parseSendmailArgs(["-odi", "-oem", "-B", "8BITMIME", "-N", "never", "-R", "hdrs", "-V", "env", "-X", "log", "-bm", "-v", "a@example.com"]);
    expect(args).toMatchObject({ ignoreDots: false, extractRecipients: false, recipients: ["a@example.com"] });
  });

  test("-C and --config name the mailer.toml", () => {
    expect(parseSendmailArgs(["-C", "/etc/m.toml"]).config).toBe("/etc/m.toml");
    expect(parseSendmailArgs(["--config", "/etc/m.toml", "-t"]).config).toBe("/etc/m.toml");
    expect(parseSendmailArgs(["--config=/etc/m.toml"]).config).toBe("/etc/m.toml");
    expect(() => parseSendmailArgs(["--config"])).toThrow(UsageError);
  });

  test("options may follow recipients; -- ends them", () => {
    expect(parseSendmailArgs(["a@example.com", "-oi"])).toMatchObject({ ignoreDots: true, recipients: ["a@example.com"] });
    expect(parseSendmailArgs(["--", "-oi"]).recipients).toEqual(["-oi"]);
  });

  test("unknown flags, unsupported modes and a missing argument are usage errors", () => {
    for (const argv of [["-Z"], ["-bd"], ["-bt"], ["-q"], ["-f"], ["--verbose"], ["--log-level"]]) {
      expect(() => parseSendmailArgs(argv)).toThrow(UsageError);
    }
  });

  test("the legacy flags programs pass are accepted and ignored: -B, -N, -v, -odb, -odi, -oem, -oi, -r", () => {
    const args = parseSendmailArgs(["-B", "8BITMIME", "-Nnever", "-v", "-odb", "-odi", "-oem", "-oi", "-r", "bounce@example.com", "root"]);
    expect(args).toMatchObject({ mode: "deliver", ignoreDots: true, sender: "bounce@example.com", recipients: ["root"] });
  });

  test("-bs, -bp, -bi and -I choose the mode; mailer's --config, --log-format and --log-level are taken too", () => {
    expect(parseSendmailArgs(["-bs"]).mode).toBe("smtp");
    expect(parseSendmailArgs(["-bp"]).mode).toBe("list");
    expect(parseSendmailArgs(["-bi"]).mode).toBe("aliases");
    expect(parseSendmailArgs(["-I"]).mode).toBe("aliases");
    expect(parseSendmailArgs(["-bm", "a@example.com"]).mode).toBe("deliver");
    expect(parseSendmailArgs(["-t", "--log-level", "debug", "--config=/x.toml", "--log-format", "json", "-r", "me@x"])).toMatchObject({
      mode: "deliver", extractRecipients: true, logLevel: "debug", config: "/x.toml", logFormat: "json", sender: "me@x",
    });
  });
});

describe("mailer queue arguments", () => {
  test("values stay text (no numeric conversion), flags repeat, --text - is kept", () => {
    const args = parseQueueArgs(["--subject", "0x10", "--to", "a@example.com", "--to", "b@example.com", "--text", "-", "--header", "X-A: 1: 2"]);
    expect(args).toMatchObject({ subject: "0x10", to: ["a@example.com", "b@example.com"], text: "-", headers: [["X-A", "1: 2"]] });
  });

  test("a line break in any header-bound flag is refused as bad data (65); a multi-line --text is fine", () => {
    expect(() => parseQueueArgs(["--subject", "hi\r\nBcc: v@example.com"])).toThrow(DataError);
    expect(() => parseQueueArgs(["--header", "X-A: 1\nBcc: v@example.com"])).toThrow(DataError);
    expect(parseQueueArgs(["--text", "line 1\nline 2"]).text).toBe("line 1\nline 2");
  });

  test("--priority takes a name or 1|2|3, like the header and the library", () => {
    expect(parseQueueArgs(["--priority", "High"]).priority).toBe(1);
    expect(parseQueueArgs(["--priority", "3"]).priority).toBe(3);
  });

  test("unknown flags, a bad --priority and a malformed --header are usage errors (64)", () => {
    for (const argv of [["--bogus"], ["--priority", "urgent"], ["--priority", "constructor"], ["--header", "no colon"], ["stray"]]) {
      expect(() => parseQueueArgs(argv)).toThrow(UsageError);
    }
  });
});

describe("smtpd listen policy", () => {
  test("parses host:port, [v6]:port and :port", () => {
    expect(parseListen("127.0.0.1:2525", "x")).toEqual({ host: "127.0.0.1", port: 2525 });
    expect(parseListen("[::1]:25", "x")).toEqual({ host: "::1", port: 25 });
    expect(parseListen(":2525", "x")).toEqual({ host: "0.0.0.0", port: 2525 });
    expect(() => parseListen("2525", "--listen")).toThrow(ConfigError);
  });

  test("loopback needs nothing; any other address needs AUTH, allow_from, allow_open_relay or --force", () => {
    expect(isLoopback("127.0.0.5") && isLoopback("::1") && isLoopback("localhost")).toBe(true);
    const open = { authRequired: false, allowFrom: [], allowOpenRelay: false, force: false };
    const wide = { host: "0.0.0.0", port: 25 };
    expect(() => checkRelayPolicy(wide, open)).toThrow(/refusing to listen on 0.0.0.0:25/);
    checkRelayPolicy({ host: "127.0.0.1", port: 25 }, open);
    checkRelayPolicy(wide, { ...open, authRequired: true });
    checkRelayPolicy(wide, { ...open, allowFrom: ["10.0.0.0/8"] });
    checkRelayPolicy(wide, { ...open, allowOpenRelay: true });
    checkRelayPolicy(wide, { ...open, force: true });
  });

  test("allow_from takes addresses and CIDR ranges, and matches IPv4-mapped IPv6 clients", () => {
    const allowed = allowList(["10.0.0.0/8", "192.0.2.7", "::1"])!;
    expect(["10.1.2.3", "::ffff:10.9.9.9", "192.0.2.7", "::1"].map(allowed)).toEqual([true, true, true, true]);
    expect(["11.0.0.1", "192.0.2.8"].map(allowed)).toEqual([false, false]);
    expect(allowList([])).toBeNull();
    expect(() => allowList(["not-an-ip"])).toThrow(ConfigError);
  });
});
