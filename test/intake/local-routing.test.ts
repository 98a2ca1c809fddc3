// Local names, as every enqueue path routes them: bare names qualified with default_domain, local
// recipients through the aliases file, the sender from the submitting uid, and the Received: trace.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ConfigError, DataError } from "../../src/errors.ts";
import { prepareSubmission, receivedTrace, type Submission } from "../../src/intake/submission.ts";
import { fullHostName, loginOf } from "../../src/queue/host-identity.ts";
import { LocalRouting } from "../../src/queue/local-routing.ts";
import { prepareMessage } from "../../src/queue/prepare.ts";
import { tempDir } from "../helpers/db.ts";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");
const header = (bytes: Uint8Array, name: string) =>
  new RegExp(`^${name}: (.*)$`, "mi").exec(text(bytes).split("\r\n\r\n")[0]!.replace(/\r\n[ \t]+/g, " "))?.[1] ?? null;

let dir: ReturnType<typeof tempDir>;
let aliases: string;
beforeEach(() => {
  dir = tempDir();
  aliases = join(dir.path, "aliases");
  writeFileSync(aliases, "# test\npostmaster: root\nroot: ops@example.com, admin\nadmin: boss@example.net\nwww-data: root\nbroken: |/usr/bin/procmail\n");
});
afterEach(() => dir.cleanup());

const routing = (extra: Partial<{ default_domain: string; default_from: string; aliases: string }> = {}) =>
  new LocalRouting({ default_domain: "mail.example.org", default_from: "", aliases, ...extra });

describe("LocalRouting", () => {
  test("qualifies a bare name with default_domain and leaves a full address alone", () => {
    const r = routing();
    expect(r.qualify("alice")).toBe("alice@mail.example.org");
    expect(r.qualify("alice@example.com")).toBe("alice@example.com");
  });

  test("rewrites a local recipient through nested aliases", () => {
    expect(routing().recipients("postmaster")).toEqual(["ops@example.com", "boss@example.net"]);
    expect(routing().recipients("ROOT")).toEqual(["ops@example.com", "boss@example.net"]);
  });

  test("an address at one of this host's own names is looked up by its local part; other domains are not", () => {
    const r = routing();
    expect(r.recipients(`root@${hostname()}`)).toEqual(["ops@example.com", "boss@example.net"]);
    expect(r.recipients("root@localhost")).toEqual(["ops@example.com", "boss@example.net"]);
    expect(r.recipients("root@example.com")).toEqual(["root@example.com"]);
    expect(r.recipients(`nobody-here@${hostname()}`)).toEqual([`nobody-here@${hostname()}`]);
  });

  test("a name that is not an alias is qualified; one whose only target was refused goes to the name itself", () => {
    expect(routing().recipients("bob")).toEqual(["bob@mail.example.org"]);
    expect(routing().recipients("broken")).toEqual(["broken@mail.example.org"]);
    expect((routing().aliasTable()?.problems ?? []).join("\n")).toContain("procmail");
  });

  test("with no aliases file (empty setting, or the default file missing) names are only qualified", () => {
    expect(routing({ aliases: "" }).recipients("root")).toEqual(["root@mail.example.org"]);
    expect(routing({ aliases: join(dir.path, "missing") }).recipients("root")).toEqual(["root@mail.example.org"]);
  });

  test("an edited aliases file is read again", () => {
    const r = routing();
    expect(r.recipients("admin")).toEqual(["boss@example.net"]);
    writeFileSync(aliases, "admin: deputy@example.net, other@example.net\n");
    expect(r.recipients("admin")).toEqual(["deputy@example.net", "other@example.net"]);
  });

  test("an aliases file that cannot be read is a configuration error, not a silent skip", () => {
    const r = routing({ aliases: dir.path }); // a directory: EISDIR when read
    expect(() => r.recipients("root")).toThrow(ConfigError);
  });

  test("the mail domain defaults to a full host name", () => {
    expect(new LocalRouting({ default_domain: "", default_from: "", aliases: "" }).domain).toBeTruthy();
    expect(fullHostName("/nonexistent")).toBe(hostname());
  });
});

describe("prepareMessage with routing", () => {
  const msg = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

  test("cron's message: From root (Cron Daemon), To root: headers qualified, envelope through the aliases", () => {
    const p = prepareMessage(msg("From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host> date\n\nFri Dec  4\n"), {
      envelopeTo: ["root"],
      routing: routing(),
    });
    expect(p.envelopeTo).toEqual(["ops@example.com", "boss@example.net"]);
    expect(p.envelopeFrom).toBe("root@mail.example.org");
    expect(header(p.data, "From")).toBe('"Cron Daemon" <root@mail.example.org>');
    expect(header(p.data, "To")).toBe("root@mail.example.org");
  });

  test("only fields with a bare name are rewritten; a message of full addresses keeps its bytes", () => {
    const raw = msg("From: App <app@example.com>\r\nTo: a@example.com, Bob <b@example.com>\r\nSubject: x\r\nMessage-ID: <1@x>\r\nDate: Fri, 04 Dec 2026 12:00:00 +0000\r\n\r\nbody\r\n");
    const p = prepareMessage(raw, { routing: routing() });
    expect(p.data).toBe(raw);
    const mixed = prepareMessage(msg("From: a@example.com\nTo: Bob <b@example.com>, www-data\nCc: c@example.com\n\nx\n"), { routing: routing() });
    expect(header(mixed.data, "To")).toBe('"Bob" <b@example.com>, www-data@mail.example.org');
    expect(header(mixed.data, "Cc")).toBe("c@example.com");
    expect(mixed.envelopeTo).toEqual(["b@example.com", "ops@example.com", "boss@example.net", "c@example.com"]);
  });

  test("without routing a bare name is still refused", () => {
    expect(() => prepareMessage(msg("From: a@example.com\nTo: root\n\nx\n"))).toThrow(DataError);
  });
});

describe("prepareSubmission", () => {
  const sub = (over: Partial<Submission> = {}): Submission => ({
    recipients: [],
    extractRecipients: true,
    via: { protocol: "local" },
    submitter: { uid: 33, login: "www-data" },
    data: new Uint8Array(Buffer.from("To: someone@example.com\nSubject: hi\n\nbody\n")),
    ...over,
  });

  test("with no From and no -f, the sender is the submitter's login at the mail domain, and a Received line names the uid", () => {
    const p = prepareSubmission(sub(), { routing: routing(), maxSize: 1e6 });
    expect(p.envelopeFrom).toBe("www-data@mail.example.org");
    expect(header(p.data, "From")).toBe("www-data@mail.example.org");
    expect(text(p.data)).toStartWith(`Received: by ${hostname()} (mailer, from userid 33 www-data); `);
  });

  test("default_from wins over the login", () => {
    const p = prepareSubmission(sub(), { routing: routing({ default_from: "noreply@example.org" }), maxSize: 1e6 });
    expect(p.envelopeFrom).toBe("noreply@example.org");
    expect(header(p.data, "From")).toBe("noreply@example.org");
  });

  test("-f root is qualified; an SMTP client's HELO is reduced to harmless characters in the trace", () => {
    const p = prepareSubmission(sub({ sender: "root" }), { routing: routing(), maxSize: 1e6 });
    expect(p.envelopeFrom).toBe("root@mail.example.org");
    const trace = receivedTrace({ via: { protocol: "ESMTP", helo: "evil\r\nBcc: x@y (z)" }, submitter: null });
    expect(trace).toStartWith("from evil??Bcc:?x@y??z? by ");
    expect(trace).toContain(" with ESMTP; ");
  });
});

describe("loginOf", () => {
  test("reads the password file for the uid, not $USER", () => {
    const passwd = join(dir.path, "passwd");
    writeFileSync(passwd, "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n");
    expect(loginOf(33, passwd)).toBe("www-data");
    expect(loginOf(4242, passwd)).toBe("uid4242");
  });
});
