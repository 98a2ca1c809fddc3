// The header parser keeps an already well-formed text as it is (no decoding or re-encoding of the
// body), and bare addresses skip the address parser: both shortcuts must give exactly what the long
// way gives. The long way is written out here as the reference: normalise every line end to CRLF,
// refuse a bare CR in the header, parse "Name: value" lines with their continuations.
import { describe, expect, test } from "bun:test";
import addressparser from "nodemailer/lib/addressparser";
import { parseAddressList } from "../../src/queue/address.ts";
import { joinMessage, splitMessage } from "../../src/queue/headers.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");

function reference(text: string): { fields: string[]; body: string } | { error: string } {
  const t = text.replace(/\r?\n/g, "\r\n");
  const end = t.indexOf("\r\n\r\n");
  const head = end === -1 ? t.replace(/\r\n$/, "") : t.slice(0, end);
  const body = end === -1 ? "" : t.slice(end + 4).replace(/\r(?!\n)/g, "\r\n");
  if (head.includes("\0")) return { error: "NUL" };
  if (/\r(?!\n)/.test(head)) return { error: "bare CR" };
  const fields: string[] = [];
  for (const line of head === "" ? [] : head.split("\r\n")) {
    if (/^[ \t]/.test(line) && fields.length > 0) {
      fields[fields.length - 1] += "\r\n" + line;
      continue;
    }
    const colon = line.indexOf(":");
    if (!/^[!-9;-~]+$/.test(colon > 0 ? line.slice(0, colon).trimEnd() : "")) return { error: "not Name: value" };
    fields.push(line);
  }
  return { fields, body };
}

/** Texts made of pieces that exercise every branch: CRLF, LF, bare CR, folding, 8-bit, no blank line. */
function randomText(random: () => number): string {
  const pick = <T,>(items: T[]) => items[Math.floor(random() * items.length)]!;
  const eol = () => pick(["\r\n", "\r\n", "\r\n", "\n", "\r"]);
  const lines = Array.from({ length: 1 + Math.floor(random() * 5) }, () =>
    pick(["Subject: hello", "To: a@example.com", " folded", "\tfolded", "X-8bit: caf\xe9", "bad line", "Empty:", "From: x@y.z"]),
  );
  const body = Array.from({ length: Math.floor(random() * 4) }, () => pick(["text", "", "caf\xe9 \xff", ".dot"])).join(eol());
  return lines.map((l) => l + eol()).join("") + pick(["", eol()]) + body + pick(["", eol()]);
}

describe("splitMessage and joinMessage", () => {
  test("give the same fields and body as the long way on 5,000 generated texts", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let canonical = 0;
    for (let i = 0; i < 5000; i++) {
      const text = randomText(random);
      const want = reference(text);
      let split: ReturnType<typeof splitMessage> | null = null;
      let error = "";
      try {
        split = splitMessage(new Uint8Array(Buffer.from(text, "latin1")));
      } catch (e) {
        error = String(e);
      }
      if ("error" in want) {
        expect(error).toMatch({ NUL: /NUL/, "bare CR": /bare CR/, "not Name: value": /is not "Name: value"/ }[want.error]!);
        continue;
      }
      expect(error).toBe("");
      const got = { fields: split!.fields.map((f) => f.raw), body: latin1(split!.body) };
      expect(got).toEqual(want);
      const joined = latin1(joinMessage(split!));
      expect(joined).toBe(got.fields.map((f) => f + "\r\n").join("") + "\r\n" + got.body);
      if (split!.canonical) {
        canonical++;
        expect(joined).toBe(text);
      }
    }
    expect(canonical).toBeGreaterThan(200); // the shortcut was taken often enough to be tested
  });

  test("a well-formed text is stored as the very bytes given; any other is normalised", () => {
    const exact = new Uint8Array(Buffer.from("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <1@x>\r\nDate: Mon, 30 Nov 2026 01:54:26 +0000\r\n\r\nhi\r\n"));
    expect(prepareMessage(exact).data).toBe(exact);
    const lf = new Uint8Array(Buffer.from("From: a@example.com\nTo: b@example.com\nMessage-ID: <1@x>\nDate: Mon, 30 Nov 2026 01:54:26 +0000\n\nhi\n"));
    expect(latin1(prepareMessage(lf).data)).toBe(latin1(exact));
  });
});

describe("parseAddressList", () => {
  test("a bare address gives what the address parser gives", () => {
    for (const address of ["a@b", "first.last@example.com", "x+tag@sub.example.org", "a_b-c@d-e.f", "USER@Example.COM"]) {
      const parsed = (addressparser(address, { flatten: true }) as Array<{ address: string }>).map((e) => e.address);
      expect(parseAddressList(address, "to")).toEqual(parsed);
    }
  });

  test("anything else still goes through the parser and its checks", () => {
    expect(parseAddressList("Name <a@example.com>, b@example.com", "to")).toEqual(["a@example.com", "b@example.com"]);
    expect(() => parseAddressList("a@example.com\r\nBcc: x@y.z", "to")).toThrow(/line break/);
    expect(() => parseAddressList("not an address", "to")).toThrow(/not a valid email address/);
  });

  test("refuses what the parser would quietly turn into another recipient, or drop", () => {
    // A space where a comma was meant: the parser makes the second address a display name.
    expect(() => parseAddressList("a@example.com b@example.com", "to")).toThrow(/separate addresses with commas/);
    // A space inside the domain: the parser keeps "ann@exa" and calls the rest a name.
    expect(() => parseAddressList("ann@exa mple.com", "to")).toThrow(/not a valid address/);
    for (const bad of ["ann@@example.com", "a@example..com", "a@-example.com", "a@example-.com", ".a@example.com", "a..b@example.com", "a@[127.0.0.1]"]) {
      expect(() => parseAddressList(bad, "to")).toThrow(/not a valid/);
    }
    // Still accepted: names in <…> (commas in quotes too), comments, international domains, bare local names to qualify.
    expect(parseAddressList('"Ann, Sales" <ann@example.com>, b@example.com', "to")).toEqual(["ann@example.com", "b@example.com"]);
    expect(parseAddressList("root (Cron Daemon)", "from", (n) => `${n}@example.org`)).toEqual(["root@example.org"]);
    expect(parseAddressList("Zoë <zoe@exämple.com>", "to")).toEqual(["zoe@exämple.com"]);
  });
});
