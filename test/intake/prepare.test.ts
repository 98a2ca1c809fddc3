// prepareMessage, the step every enqueue path ends in, and the small parsers around it.
import { describe, expect, test } from "bun:test";
import { DataError } from "../../src/errors.ts";
import { cutAtLoneDot } from "../../src/intake/read-input.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");
const msg = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

describe("prepareMessage", () => {
  test("adds From (with a display name), Message-ID and Date when missing, and normalises line ends to CRLF", () => {
    const p = prepareMessage(msg("To: b@example.com\nSubject: hi\n\nline 1\nline 2\n"), {
      envelopeFrom: "a@example.com",
      fromName: "Cron Daemon",
    });
    const out = text(p.data);
    expect(out).toStartWith('From: "Cron Daemon" <a@example.com>\r\n');
    expect(out).toMatch(/\r\nMessage-ID: <[^>]+>\r\n/);
    expect(out).toMatch(/\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n/);
    expect(out).toEndWith("\r\n\r\nline 1\r\nline 2\r\n");
    expect(p.envelopeTo).toEqual(["b@example.com"]);
  });

  test("a non-ASCII display name becomes an RFC 2047 word", () => {
    const p = prepareMessage(msg("To: b@example.com\n\nx\n"), { envelopeFrom: "a@example.com", fromName: "Jürgen" });
    expect(text(p.data)).toStartWith("From: =?UTF-8?Q?J=C3=BCrgen?= <a@example.com>\r\n");
  });

  test("an X-Mailer-Priority that names an Object property (constructor, __proto__) is refused, not taken as a priority", () => {
    for (const value of ["constructor", "__proto__", "toString"]) {
      expect(() => prepareMessage(msg(`To: b@example.com\nX-Mailer-Priority: ${value}\n\nx\n`), { envelopeFrom: "a@example.com" })).toThrow(DataError);
    }
    expect(prepareMessage(msg("To: b@example.com\nX-Mailer-Priority: low\n\nx\n"), { envelopeFrom: "a@example.com" }).priority).toBe(3);
  });

  test("with neither a From header nor a sender, the message is refused", () => {
    expect(() => prepareMessage(msg("To: b@example.com\n\nx\n"))).toThrow(/no From header and no sender/);
  });

  test("the envelope sender defaults to Sender, then From", () => {
    const p = prepareMessage(msg("From: Author <author@example.com>\nSender: list@example.com\nTo: b@example.com\n\nx\n"));
    expect(p.envelopeFrom).toBe("list@example.com");
  });

  test("recipients come from To/Cc/Bcc, de-duplicated case-insensitively, and Bcc leaves the text", () => {
    const p = prepareMessage(msg("From: a@example.com\nTo: B@example.com, c@example.com\nCc: b@example.com\nBcc: d@example.com,\n e@example.com\n\nx\n"));
    expect(p.envelopeTo).toEqual(["B@example.com", "c@example.com", "d@example.com", "e@example.com"]);
    // Header lines, not substrings: the added Message-ID is random hex and can hold "bcc".
    expect(text(p.data)).not.toMatch(/^bcc:/im);
    expect(text(p.data)).not.toMatch(/\b[de]@example\.com/);
  });

  test("an explicit envelope replaces header recipients unless asked to add them (sendmail -t with arguments)", () => {
    const raw = msg("From: a@example.com\nTo: b@example.com\n\nx\n");
    expect(prepareMessage(raw, { envelopeTo: ["x@example.com"] }).envelopeTo).toEqual(["x@example.com"]);
    expect(prepareMessage(raw, { envelopeTo: ["x@example.com"], recipientsFromHeaders: true }).envelopeTo).toEqual(["x@example.com", "b@example.com"]);
  });

  test("refuses: no recipients, NUL bytes, a header line that is not Name: value, a bad address, an empty message", () => {
    const cases: Array<[string, RegExp]> = [
      ["From: a@example.com\n\nx\n", /no recipients/],
      ["From: a@example.com\nTo: b@example.com\n\nx\0y\n", /NUL/],
      ["From: a@example.com\nTo b@example.com\n\nx\n", /header line 2 is not "Name: value"/],
      ["From: a@example.com\nTo: not an address\n\nx\n", /not a valid email address/],
      ["", /empty/],
    ];
    for (const [raw, error] of cases) {
      expect(() => prepareMessage(msg(raw))).toThrow(error);
      expect(() => prepareMessage(msg(raw))).toThrow(DataError);
    }
  });

  test("refuses a message over maxSize, before and after headers are added", () => {
    const raw = msg("From: a@example.com\nTo: b@example.com\n\n" + "x".repeat(100) + "\n");
    expect(() => prepareMessage(raw, { maxSize: 50 })).toThrow(/over the limit of 50 bytes/);
    // Fits as given, but not once Message-ID and Date are added.
    expect(() => prepareMessage(raw, { maxSize: raw.byteLength + 10 })).toThrow(/over the limit/);
  });

  test("header fields added by the caller are checked for injection", () => {
    const raw = msg("From: a@example.com\nTo: b@example.com\n\nx\n");
    expect(() => prepareMessage(raw, { addHeaders: [["X-A", "1\r\nBcc: v@example.com"]] })).toThrow(/line break/);
    expect(text(prepareMessage(raw, { addHeaders: [["X-A", "1"]] }).data)).toStartWith("X-A: 1\r\n");
  });

  test("keeps 8-bit header and body bytes as they are", () => {
    const raw = Buffer.from("From: a@example.com\nTo: b@example.com\nSubject: caf\xe9\n\n\xe9\xff\n", "latin1");
    const p = prepareMessage(new Uint8Array(raw));
    expect(Buffer.from(p.data).includes(Buffer.from("Subject: caf\xe9\r\n", "latin1"))).toBe(true);
    expect(Buffer.from(p.data).subarray(-4).equals(Buffer.from("\xe9\xff\r\n", "latin1"))).toBe(true);
    expect(p.subject).toBe("café");
  });
});

describe("cutAtLoneDot (sendmail without -i)", () => {
  test("a line holding only a dot ends the input, with LF or CRLF line ends", () => {
    expect(text(cutAtLoneDot(msg("a\n.\nb\n")))).toBe("a\n");
    expect(text(cutAtLoneDot(msg("a\r\n.\r\nb\r\n")))).toBe("a\r\n");
    expect(text(cutAtLoneDot(msg(".\nb\n")))).toBe("");
    expect(text(cutAtLoneDot(msg("a\n..\n.b\nc")))).toBe("a\n..\n.b\nc");
    expect(text(cutAtLoneDot(msg("a\n.")))).toBe("a\n");
  });
});
