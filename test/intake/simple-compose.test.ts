// composeSimple writes the common composed message without nodemailer's streams: every byte must be
// the one nodemailer writes. Random messages are built from pieces that cross each of its branches
// (7bit or quoted-printable, folding, names, Cc/Bcc/Reply-To, the caller's Message-ID and Date or
// none) and from pieces it must hand to nodemailer (quotes, non-Latin text, upper-case domains,
// attachments); each is composed both ways.
import { describe, expect, test } from "bun:test";
import type { SendMailOptions } from "nodemailer";
import { composeMail, composeWithNodemailer } from "../../src/queue/compose.ts";
import { composeSimple } from "../../src/queue/simple-compose.ts";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");

function seeded(seed: number) {
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  /** Mostly from the first `common` items (the subset composeSimple takes), sometimes from all. */
  const mostly = <T,>(items: readonly T[], common: number): T => pick(random() < 0.9 ? items.slice(0, common) : items);
  return { random, pick, mostly };
}

const ADDRESSES = [
  "ann@example.com", "<bob@example.org>", "Carol Jones <carol@mail.example.net>", "dave_2@sub-domain.example.io",
  "Eve <e.v+tag@example.com>", "frank.o'hara@example.com", "x@y", "Support Team 24 <support@example.com>",
  // Outside the subset: nodemailer's own way must still be taken and agree.
  "\"Quoted, Name\" <q@example.com>", "Ann <ann@Example.COM>", "Zoë <zoe@example.com>", "a@xn--jgeva-dua.ee", "Dr. Who <who@example.com>",
];
const SUBJECTS = [
  undefined, "", "Hello", "Your order #1234 has shipped", "A subject long enough that nodemailer has to fold it over two header lines at a space",
  "x".repeat(90), "  padded  ", "100% = done? [ok] {yes} ~tilde", "a \"quoted\" word", "café", "=?utf-8?Q?x?=", "   ",
];
const LINES = [
  "Hello,", "", "A short line.", "A line that is longer than seventy-six characters, so that the body needs quoted-printable.",
  "equals = sign and =3D", "\ttabbed", "trailing blank ", "x".repeat(200),
  // At the 76-column limits of 7bit and of quoted-printable lines.
  "a".repeat(76), "b ".repeat(38) + "b", "c".repeat(75) + "=", "d".repeat(74) + "==",
  // Latin letters against the rest decide quoted-printable (taken) or base64 (left to nodemailer).
  "Grüße aus Köln", "àéîõü ab", "DEL \x7f is plain text to 7bit, not to quoted-printable", "Здравствуйте", "日本語のテキスト", "emoji 🎉",
  "control \x01 byte", ".", "From the start",
];

function randomOptions(seed: number): SendMailOptions {
  const { random, pick, mostly } = seeded(seed);
  const address = () => mostly(ADDRESSES, 8);
  const some = () => (random() < 0.7 ? address() : Array.from({ length: 1 + Math.floor(random() * 5) }, address));
  const eol = pick(["\r\n", "\n", "\n", "\r\n"]);
  const body = Array.from({ length: Math.floor(random() * 8) }, () => mostly(LINES, 15)).join(eol) + pick(["", eol, "\r", " ", eol + eol]);
  const mail: SendMailOptions = { from: address(), to: some(), messageId: `<seed.${seed}@example.com>`, date: new Date(Date.UTC(2026, 11, 5, 1, 2, seed % 60)) };
  if (random() < 0.3) mail.cc = some();
  else if (random() < 0.2) mail.cc = [];
  if (random() < 0.2) mail.bcc = some();
  if (random() < 0.2) mail.replyTo = some();
  const subject = mostly(SUBJECTS, 8);
  if (subject !== undefined) mail.subject = subject;
  if (random() < 0.75) mail.text = body;
  else mail.html = `<p>${body}</p>`;
  // A fixed boundary, so that two compositions of a multipart message can be compared.
  if (random() < 0.05) Object.assign(mail, { attachments: [{ filename: "a.txt", content: "attached" }], baseBoundary: "fixed" });
  if (random() < 0.05) mail.headers = { "X-Extra": "1" };
  // Empty lists, as `mailer queue` and many applications pass them, add nothing.
  if (random() < 0.1) Object.assign(mail, { headers: mail.headers ?? [], attachments: mail.attachments ?? [], alternatives: [] });
  return mail;
}

describe("composeSimple writes nodemailer's bytes", () => {
  test("over 3,000 random messages, byte for byte (and most take the fast path)", async () => {
    let fast = 0;
    const total = 3000;
    for (let seed = 1; seed <= total; seed++) {
      const mail = randomOptions(seed);
      let expected: string;
      try {
        expected = text((await composeWithNodemailer(structuredClone(mail))).raw);
      } catch {
        continue; // options our guards refuse are refused on both paths (tested elsewhere)
      }
      const simple = composeSimple(structuredClone(mail) as Record<string, unknown>);
      if (simple !== null) {
        fast++;
        const reference = await composeWithNodemailer(structuredClone(mail));
        expect({ seed, raw: text(simple.raw) }).toEqual({ seed, raw: expected });
        expect({ seed, from: simple.envelopeFrom, to: simple.envelopeTo }).toEqual({ seed, from: reference.envelopeFrom!, to: reference.envelopeTo! });
      }
      expect({ seed, raw: text((await composeMail(structuredClone(mail))).raw) }).toEqual({ seed, raw: expected });
    }
    // The corpus is built so that most messages are simple: a fast path that declined everything would pass above.
    expect(fast).toBeGreaterThan(total * 0.3);
  });

  test("a Message-ID and Date it makes up have nodemailer's form and place", async () => {
    for (const mail of [
      { from: "Ann <ann@example.com>", to: "bob@example.org", subject: "hi", text: "body" },
      { from: "ann@example.com", to: "bob@example.org", text: "body", date: new Date(Date.UTC(2026, 0, 1)) },
      { from: "ann@example.com", to: "bob@example.org", text: "body", messageId: "<given@example.com>" },
    ] as SendMailOptions[]) {
      const ours = text(composeSimple(mail as Record<string, unknown>)!.raw);
      const theirs = text((await composeWithNodemailer(mail)).raw);
      const shape = (raw: string) =>
        raw
          .replace(/^Message-ID: <[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@example\.com>$/m, "Message-ID: <generated>")
          .replace(/^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/m, "Date: <now>");
      expect(shape(ours)).toBe(shape(theirs));
      if (!mail.messageId) expect(shape(ours)).toContain("Message-ID: <generated>");
      if (!mail.date) expect(shape(ours)).toContain("Date: <now>");
    }
  });

  test("the bench's message, the case bulk enqueue meets, takes the fast path", () => {
    const mail = {
      from: "Bench Sender <bench-sender@example.test>",
      to: ["user1@example.test"],
      subject: "composed message 1",
      text: Array.from({ length: 12 }, (_, i) => `Line ${i} of a typical transactional message body, wrapped well inside 78 columns.`).join("\r\n"),
    };
    expect(composeSimple(mail)).not.toBeNull();
  });

  test("the guards still refuse on the fast path", async () => {
    await expect(composeMail({ from: "ann@example.com", to: "bob@example.org", subject: "x\r\nBcc: evil@example.com", text: "t" })).rejects.toThrow(/header injection/);
    await expect(composeMail({ from: "ann@example.com", to: "root", text: "t" })).rejects.toThrow(/has no domain/);
  });
});
