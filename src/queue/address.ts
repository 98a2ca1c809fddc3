// Addresses are parsed with nodemailer's parser; what reaches the envelope is a bare addr-spec.
import addressparser from "nodemailer/lib/addressparser";
import { DataError } from "../errors.ts";

/** A bare dot-atom address, which the parser would return unchanged: bulk enqueue skips the parser
 * for these (the common case), and test/intake checks both ways agree. */
const PLAIN_ADDRESS = /^[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

/** The bare address of each entry in a header value or a list of them ("Name <a@b>, c@d").
 * `qualify` turns a bare local name ("root") into an address first (local-routing.ts); without it a
 * name with no @ is refused. */
export function parseAddressList(values: string | string[], origin: string, qualify?: (name: string) => string): string[] {
  return parseMailboxes(values, origin).map((m) => checkAddress(qualify && isLocalName(m.address) ? qualify(m.address) : m.address, origin));
}

const ADDRESS_WITH_COMMENT = /^\s*([^\s"<>(),;:]+)\s*\(([^()\\]*)\)\s*$/;

/** A mailbox as parsed: the display name and the address as written (perhaps a bare local name). */
export interface Mailbox {
  name: string;
  address: string;
}

/** The entries of an address list, unchecked (parseAddressList checks them). */
export function parseMailboxes(values: string | string[], origin: string): Mailbox[] {
  const out: Mailbox[] = [];
  for (const value of Array.isArray(values) ? values : [values]) {
    if (PLAIN_ADDRESS.test(value)) {
      out.push({ name: "", address: value });
      continue;
    }
    if (/[\r\n\0]/.test(value)) throw new DataError(`${origin}: address contains a line break or NUL: ${JSON.stringify(value)}`);
    if (value.trim() === "") continue;
    // "root (Cron Daemon)", as cron writes its From: the parser would drop the comment, which is the
    // only name such a mailbox has.
    const commented = ADDRESS_WITH_COMMENT.exec(value);
    if (commented) {
      out.push({ name: commented[2]!.trim(), address: commented[1]! });
      continue;
    }
    // Without <…>, (…) or quotes a mailbox is a bare address: text beside it is a mistake the parser
    // would turn into a display name, quietly changing the recipient ("ann@exa mple.com" -> ann@exa)
    // or losing one ("a@b.com c@d.com" -> a@b.com). Refused instead.
    const bare = !/[<("]/.test(value);
    for (const entry of addressparser(value, { flatten: true })) {
      const address = entry.address.trim();
      if (address === "" && entry.name.trim() === "") continue;
      if (bare && address !== "" && entry.name.trim() !== "") {
        throw new DataError(`${origin}: not a valid address (separate addresses with commas; put a name before <address>): ${JSON.stringify(value)}`);
      }
      // "root (Cron Daemon)": the parser gives the comment as the name; a lone word is the address.
      out.push(address === "" ? { name: "", address: entry.name.trim() } : { name: entry.name, address });
    }
  }
  return out;
}

/** A bare local name such as "root" or "www-data": what local-routing qualifies with a domain. */
export const isLocalName = (text: string) => /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~.-]+$/.test(text) && !text.includes("@");

/** Whether a header value names a bare local name. The cheap test first, since it runs on every
 * message of a bulk enqueue: a list whose every comma-separated piece has an @ names none (a quoted
 * name with a comma in it only sends such a value to the parser). */
export const namesLocalName = (value: string, origin: string) =>
  !value.split(",").every((piece) => piece.includes("@")) && parseMailboxes(value, origin).some((m) => isLocalName(m.address));

/** An addr-spec we can give to MAIL FROM / RCPT TO: local@domain, no spaces or brackets. */
export function checkAddress(address: string, origin: string): string {
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const ok = at > 0 && at < address.length - 1 && !/[\s<>\0]/.test(address) && DOMAIN.test(domain) && (QUOTED_LOCAL.test(local) || DOT_ATOM_LOCAL.test(local));
  if (!ok) throw new DataError(`${origin}: not a valid email address: ${JSON.stringify(address)}`);
  return address;
}

/** Host name labels (letters of any script, for IDN; digits; inner hyphens), one dot between them:
 * "example..com", "-example.com" and an address literal are refused. */
const DOMAIN = /^(?!-)[\p{L}\p{N}-]{1,63}(?<!-)(?:\.(?!-)[\p{L}\p{N}-]{1,63}(?<!-))*$/u;
/** RFC 5321's dot-atom local part (any non-ASCII allowed, SMTPUTF8): no "@", no leading, trailing or doubled dot. */
const DOT_ATOM_LOCAL = /^(?!\.)(?!.*\.\.)[^\s"(),:;<>@\[\\\]]+(?<!\.)$/u;
const QUOTED_LOCAL = /^"(?:[^"\\\r\n]|\\.)*"$/;

/** Case-insensitive de-duplication, keeping the first spelling. */
export function uniqueAddresses(addresses: string[]): string[] {
  const seen = new Set<string>();
  return addresses.filter((a) => {
    const key = a.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Exactly one bare address from "a@b" or "Name <a@b>" (the don't-send list's input). */
export function singleAddress(text: string, origin = "address"): string {
  const list = parseAddressList(text, origin);
  if (list.length !== 1) throw new DataError(`${origin}: expected one email address, got ${JSON.stringify(text)}`);
  return list[0]!;
}
