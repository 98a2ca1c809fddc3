// 8-bit text made 7-bit for a server without 8BITMIME (transports/seven-bit.ts): what a MIME reader
// (mailparser) decodes from the result is what was stored, and 7-bit parts stay byte for byte.
import { expect, test } from "bun:test";
import { isAscii } from "node:buffer";
import { to7bit } from "../../src/transports/seven-bit.ts";
import { DataError } from "../../src/errors.ts";
import { parse } from "../helpers/intake.ts";

const bytes = (text: string) => new Uint8Array(Buffer.from(text, "latin1"));
const utf8 = (text: string) => Buffer.from(text, "utf8").toString("latin1");
const ascii = (raw: Uint8Array) => isAscii(raw);

test("a plain 8-bit text body becomes quoted-printable, under MIME-Version, and decodes to the same text", async () => {
  const body = "Grüße aus Köln — ünïcödé\r\n" + "ä".repeat(600) + "\r\ntrailing space \r\n";
  const raw = bytes(`From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\n${utf8(body)}`);
  const out = to7bit(raw);
  expect(ascii(out)).toBe(true);
  const text = Buffer.from(out).toString("latin1");
  expect(text).toStartWith("MIME-Version: 1.0\r\nFrom: a@example.com\r\n");
  expect(text).toContain("Content-Transfer-Encoding: quoted-printable\r\n");
  expect(Math.max(...text.split("\r\n").map((l) => l.length))).toBeLessThanOrEqual(76);
  // No charset was declared: decode the bytes ourselves as UTF-8 to compare.
  const mail = await parse(Buffer.from(text.replace("Subject: hi\r\n", 'Subject: hi\r\nContent-Type: text/plain; charset="utf-8"\r\n'), "latin1"));
  expect(mail.text).toBe(body.replace(/\r\n/g, "\n")); // mailparser gives LF line ends
});

test("a multipart: the 7-bit part and the preamble stay as they were, text goes quoted-printable, binary base64", async () => {
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0));
  const plain = "Content-Type: text/plain; charset=us-ascii\r\n\r\nplain ascii part\r\n";
  const html = `Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${utf8("<p>Grüße</p>")}`;
  const file = `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="blob.bin"\r\n\r\n${binary.toString("latin1")}`;
  const message =
    'From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b-1"\r\n\r\n' +
    `preamble\r\n--b-1\r\n${plain}\r\n--b-1\r\n${html}\r\n--b-1\r\n${file}\r\n--b-1--\r\nepilogue\r\n`;
  const out = Buffer.from(to7bit(bytes(message))).toString("latin1");
  expect(ascii(bytes(out))).toBe(true);
  expect(out).toContain(`preamble\r\n--b-1\r\n${plain}\r\n--b-1\r\n`);
  expect(out).toEndWith("\r\n--b-1--\r\nepilogue\r\n");
  expect(out.match(/Content-Transfer-Encoding: [\w-]+/g)).toEqual([
    "Content-Transfer-Encoding: quoted-printable",
    "Content-Transfer-Encoding: base64",
  ]);
  const mail = await parse(Buffer.from(out, "latin1"));
  expect(mail.text).toStartWith("plain ascii part"); // (mailparser appends the HTML part's text)
  expect(mail.html).toEndWith("<p>Grüße</p>"); // (after the text part, as HTML)
  expect(Buffer.compare(mail.attachments[0]!.content, binary)).toBe(0);
});

test("a message/rfc822 part is walked into; an 8-bit Subject becomes an encoded word", async () => {
  const inner = `From: c@example.com\r\nSubject: ${utf8("Überweisung")}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${utf8("Betrag: 5 €")}\r\n`;
  const message =
    `From: a@example.com\r\nSubject: ${utf8("Fwd: Überweisung — 5 €")}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n` +
    `--zz\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${inner}\r\n--zz--\r\n`;
  const out = to7bit(bytes(message));
  expect(ascii(out)).toBe(true);
  const text = Buffer.from(out).toString("latin1");
  expect(text).toContain("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n");
  const mail = await parse(Buffer.from(out));
  expect(mail.subject).toBe("Fwd: Überweisung — 5 €");
  const forwarded = await parse(mail.attachments[0]!.content);
  expect(forwarded.subject).toBe("Überweisung");
  expect(forwarded.text?.trim()).toBe("Betrag: 5 €");
});

test("a message with no 8-bit byte is returned byte for byte; 8 bits in an address header is refused", () => {
  const seven = bytes("From: a@example.com\r\nSubject: plain\r\n\r\nbody\r\n");
  expect(Buffer.compare(Buffer.from(to7bit(seven)), Buffer.from(seven))).toBe(0);
  expect(() => to7bit(bytes(`From: ${utf8("Jörg")} <a@example.com>\r\n\r\nbody\r\n`))).toThrow(DataError);
  expect(() => to7bit(bytes(`From: ${utf8("Jörg")} <a@example.com>\r\n\r\nbody\r\n`))).toThrow(/From header holds non-ASCII bytes/);
});
