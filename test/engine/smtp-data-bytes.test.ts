// dataBytes (src/transports/smtp-stored-send.ts) writes a stored text and its final dot in one piece.
// The bytes must be exactly those nodemailer's DataStream writes for the same text, which is the
// previous path: checked on the texts of every shape the queue holds and on many random ones made of
// the bytes that matter (CR, LF, dot) among others.
import { describe, expect, test } from "bun:test";
import { dataBytes } from "../../src/transports/smtp-stored-send.ts";
import { benchMessage } from "../../scripts/bench/messages.ts";
import { dataStreamOutput } from "../helpers/data-stream.ts";

const dataStreamBytes = async (text: Buffer) => Buffer.concat(await dataStreamOutput([text]));

const latin1 = (text: string) => Buffer.from(text, "latin1");

describe("dataBytes writes what nodemailer's DataStream writes", () => {
  const texts: Record<string, Buffer> = {
    "an empty text": latin1(""),
    "CRLF text": latin1("Subject: one\r\n\r\nbody\r\n"),
    "no final line break": latin1("Subject: two\r\n\r\nlast line"),
    "ends with a bare CR": latin1("Subject: three\r\n\r\nlast line\r"),
    "LF line ends": latin1("Subject: four\n\nline one\nline two\n"),
    "lines starting with a dot": latin1("Subject: five\r\n\r\n.\r\n..two\r\n.three\r\nend\r\n"),
    "opens with a dot": latin1(".hidden\r\n"),
    "a dot after a bare CR (smuggling)": latin1("a\r.\r\nb\r\n"),
    "8-bit bytes": latin1("Subject: caf\xe9\r\n\r\n\xff\xfe\x80 bytes\r\n"),
    "a bench message": Buffer.from(benchMessage(7).raw),
  };
  for (const [name, text] of Object.entries(texts)) {
    test(name, async () => {
      expect(dataBytes(text).toString("hex")).toBe((await dataStreamBytes(text)).toString("hex"));
    });
  }

  test("5,000 random texts of CR, LF, dots and other bytes", async () => {
    const alphabet = [0x0d, 0x0a, 0x2e, 0x61, 0x20, 0xff];
    let seed = 18;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    for (let n = 0; n < 5_000; n++) {
      const text = Buffer.from(Array.from({ length: Math.floor(random() * 24) }, () => alphabet[Math.floor(random() * alphabet.length)]!));
      const ours = dataBytes(text).toString("hex");
      const theirs = (await dataStreamBytes(text)).toString("hex");
      if (ours !== theirs) expect({ text: text.toString("hex"), ours }).toEqual({ text: text.toString("hex"), ours: theirs });
    }
  });
});
