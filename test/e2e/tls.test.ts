// TLS on both sides (issue 16 item 2), through the compiled binary.
// Outbound: `[backend] tls` against real SMTP peers with and without STARTTLS. Inbound: `mailer smtpd`
// with a certificate made by openssl, driven by swaks (as an unprivileged user) and Python's smtplib.
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { bench, summary, type Bench } from "../helpers/engine.ts";
import { testIf } from "../helpers/dialects.ts";
import { runMailer } from "../helpers/cli.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { smtpConversation, startSmtpd, type SmtpdProcess } from "../helpers/smtpd-process.ts";
import { tempDir } from "../helpers/db.ts";

let b: Bench | null = null;
let tq: TestQueue | null = null;
let smtpd: SmtpdProcess | null = null;
const dirs: Array<{ cleanup(): void }> = [];
afterEach(async () => {
  await b?.cleanup();
  b = null;
  if (smtpd) await smtpd.stop();
  smtpd = null;
  await tq?.cleanup();
  tq = null;
  for (const d of dirs.splice(0)) d.cleanup();
});

describe("outbound: [backend] tls", () => {
  test("with a user and no tls key (required), a server that offers no STARTTLS gets neither AUTH nor the mail", async () => {
    b = await bench("sqlite", { backend: { user: "app", password: "secret-pw" } }, { auth: { user: "app", pass: "secret-pw" } });
    await b.enqueue({ subject: "never in clear" });
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(0);
    expect(summary(run.stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
    expect(b.sink.authAttempts).toBe(0);
    expect(b.sink.received).toHaveLength(0);
    const [log] = await b.logs();
    expect(log!.result).toBe("failure");
    expect(log!.log_message).toContain('backend.tls = "required"');
    expect(run.stderr + run.stdout).not.toContain("secret-pw");
  });

  test('tls = "required" without a user: no STARTTLS, no mail', async () => {
    b = await bench("sqlite", { backend: { tls: "required" } });
    await b.enqueue();
    expect(summary((await b.run(["send-mail"])).stdout)).toEqual({ sent: 0, deferred: 1, failed: 0 });
    expect(b.sink.received).toHaveLength(0);
  });

  test("required, and offered: AUTH and the mail go over STARTTLS", async () => {
    b = await bench("sqlite", { backend: { user: "app", password: "secret-pw", tls_verify: false } }, {
      auth: { user: "app", pass: "secret-pw" },
      tls: "starttls",
    });
    await b.enqueue();
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(1);
    expect(b.sink.received.map((m) => m.secure)).toEqual([true]);
    expect(b.sink.authAttempts).toBe(1);
  });

  test('tls = "opportunistic" is the operator\'s explicit choice: in clear to a server without STARTTLS', async () => {
    b = await bench("sqlite", { backend: { user: "app", password: "secret-pw", tls: "opportunistic" } }, { auth: { user: "app", pass: "secret-pw" } });
    await b.enqueue();
    expect(summary((await b.run(["send-mail"])).stdout).sent).toBe(1);
    expect(b.sink.received.map((m) => m.secure)).toEqual([false]);
  });

  test("a bad tls value is a config error naming the choices", async () => {
    b = await bench("sqlite", { backend: { tls: "always" } });
    const run = await b.run(["send-mail"]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('backend.tls: expected one of "opportunistic", "required"');
  });
});

/** A self-signed certificate for `name`, made by openssl, in `dir`. */
function makeCertificate(dir: string, name: string, stem = "smtpd"): { cert: string; key: string } {
  const cert = join(dir, `${stem}.crt`);
  const key = join(dir, `${stem}.key`);
  const made = Bun.spawnSync([
    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`,
    "-keyout", key, "-out", cert,
  ]);
  if (made.exitCode !== 0) throw new Error(`openssl: ${made.stderr.toString()}`);
  return { cert, key };
}

const asNobody = process.getuid?.() === 0 ? ["runuser", "-u", "nobody", "--"] : [];
const hasSwaks = Bun.spawnSync(["sh", "-c", "command -v swaks"]).exitCode === 0;
const MESSAGE = "From: App <app@example.com>\r\nTo: a@example.com\r\nSubject: over tls\r\n\r\nHello over TLS\r\n";

/** This machine's first non-loopback IPv4 address: where a network-facing smtpd listens. */
const outward = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === "IPv4" && !a.internal)?.address;

async function smtpdWithCertificate(extra: string, args: string[] = ["--listen", "127.0.0.1:0"]) {
  const dir = tempDir("mailer-tls-");
  dirs.push(dir);
  const files = makeCertificate(dir.path, "mailer.test");
  tq = await testQueue("sqlite", `[smtpd]\ntls_cert = ${JSON.stringify(files.cert)}\ntls_key = ${JSON.stringify(files.key)}\n${extra}`);
  smtpd = await startSmtpd(tq.config, args);
  return { dir: dir.path, ...files };
}

describe("inbound: mailer smtpd with a certificate", () => {
  testIf(hasSwaks, "swaks is not installed")("swaks (as nobody) upgrades with STARTTLS and queues; the session was encrypted", async () => {
    await smtpdWithCertificate("");
    const swaks = Bun.spawnSync([
      ...asNobody, "swaks", "--server", "127.0.0.1", "--port", String(smtpd!.port), "--tls",
      "--from", "app@example.org", "--to", "a@example.com", "--body", "over starttls",
    ]);
    const out = swaks.stdout.toString();
    expect({ code: swaks.exitCode, out }).toMatchObject({ code: 0 });
    expect(out).toContain("250-STARTTLS");
    expect(out).toContain("TLS started");
    expect(out).toMatch(/<~ {2}250 2\.0\.0 OK: queued as \d+/); // "<~" is swaks' mark for a reply read over TLS
    expect(await tq!.rows()).toHaveLength(1);
  });

  test("Python's smtplib: starttls() then sendmail(), with implicit TLS (secure = true) too", async () => {
    await smtpdWithCertificate("");
    const script = `
import json, smtplib, ssl, sys
o = json.loads(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if o["implicit"]:
    s = smtplib.SMTP_SSL("127.0.0.1", o["port"], context=ctx, timeout=20)
else:
    s = smtplib.SMTP("127.0.0.1", o["port"], timeout=20); s.ehlo(); s.starttls(context=ctx)
s.ehlo()
s.sendmail("app@example.org", ["a@example.com"], o["message"].encode())
print(json.dumps({"cipher": s.sock.cipher()[0]}))
s.quit()
`;
    const send = (port: number, implicit: boolean) => {
      const run = Bun.spawnSync(["python3", "-c", script, JSON.stringify({ port, implicit, message: MESSAGE })]);
      if (run.exitCode !== 0) throw new Error(run.stderr.toString());
      return JSON.parse(run.stdout.toString()) as { cipher: string };
    };
    expect(send(smtpd!.port, false).cipher).toMatch(/TLS|AES|CHACHA/);
    // Implicit TLS: the same files, secure = true ([smtpd] is the config's last section).
    await smtpd!.stop();
    writeFileSync(tq!.config, (await Bun.file(tq!.config).text()) + "secure = true\n");
    smtpd = await startSmtpd(tq!.config);
    expect(smtpd.lines.join("\n")).toContain('"tls":"implicit"');
    expect(send(smtpd.port, true).cipher).toMatch(/TLS|AES|CHACHA/);
    expect(await tq!.rows()).toHaveLength(2);
  });

  testIf(outward !== undefined && hasSwaks, "no non-loopback IPv4 address, or no swaks")(
    "on a non-loopback listen, AUTH is offered only after STARTTLS: swaks without --tls cannot log in, with it can",
    async () => {
      await smtpdWithCertificate('user = "app"\npassword = "pw-123"\n', ["--listen", `${outward}:0`]);
      const smtp = await smtpConversation(smtpd!.port, outward);
      const ehlo = await smtp.command("EHLO test");
      expect(ehlo).toContain("STARTTLS");
      expect(ehlo).not.toContain("AUTH");
      expect(await smtp.command("AUTH PLAIN " + Buffer.from("\0app\0pw-123").toString("base64"))).toMatch(/^5\d\d /);
      smtp.close();
      const swaks = (tls: boolean) =>
        Bun.spawnSync([
          ...asNobody, "swaks", "--server", outward!, "--port", String(smtpd!.port), ...(tls ? ["--tls"] : []),
          "--auth", "PLAIN", "--auth-user", "app", "--auth-password", "pw-123",
          "--from", "app@example.org", "--to", "a@example.com", "--body", "authenticated",
        ]);
      const clear = swaks(false);
      expect(clear.exitCode).not.toBe(0);
      expect(clear.stdout.toString() + clear.stderr.toString()).not.toContain("Authentication succeeded");
      const encrypted = swaks(true);
      expect({ code: encrypted.exitCode, out: encrypted.stdout.toString() }).toMatchObject({ code: 0 });
      expect(encrypted.stdout.toString()).toMatch(/<~ {2}235 /);
      expect(await tq!.rows()).toHaveLength(1);
    },
  );

  test("a renewed certificate is served to new connections without a restart; a broken renewal keeps the old one", async () => {
    const files = await smtpdWithCertificate("secure = true\n");
    const fingerprint = () =>
      new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: "127.0.0.1", port: smtpd!.port, rejectUnauthorized: false }, () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.destroy();
        });
        socket.on("error", reject);
      });
    const first = await fingerprint();
    const renewed = makeCertificate(files.dir, "renewed.mailer.test", "renewed");
    copyFileSync(renewed.key, files.key);
    copyFileSync(renewed.cert, files.cert);
    await smtpd!.waitForLog(/TLS certificate reloaded/, 15_000);
    const second = await fingerprint();
    expect(second).not.toBe(first);
    writeFileSync(files.cert, "not a certificate\n");
    await smtpd!.waitForLog(/cannot be used; keeping the one in use/, 15_000);
    expect(await fingerprint()).toBe(second);
  });

  test("bad TLS settings are config errors (78) that name the key: one file of two, secure without files, unreadable or mismatched files, AUTH on the network without TLS", async () => {
    const dir = tempDir("mailer-tls-");
    dirs.push(dir);
    const a = makeCertificate(dir.path, "a", "a");
    const other = makeCertificate(dir.path, "b", "b");
    tq = await testQueue("sqlite");
    const config = tq.config;
    const base = await Bun.file(config).text();
    const attempt = async (smtpdToml: string, listen = "127.0.0.1:0") => {
      writeFileSync(config, `${base}[smtpd]\n${smtpdToml}`);
      return runMailer(["smtpd", "--config", config, "--listen", listen]);
    };
    const cases: Array<[string, RegExp, string?]> = [
      [`tls_cert = "${a.cert}"\n`, /smtpd\.tls_key is missing/],
      ["secure = true\n", /smtpd\.secure \(implicit TLS\) needs smtpd\.tls_cert and smtpd\.tls_key/],
      [`tls_cert = "${dir.path}/nope.crt"\ntls_key = "${a.key}"\n`, /smtpd\.tls_cert: cannot read .*nope\.crt/],
      [`tls_cert = "${a.cert}"\ntls_key = "${other.key}"\n`, /cannot be used/],
    ];
    if (outward) cases.push(['user = "app"\npassword = "pw"\n', /AUTH is offered only over TLS there/, `${outward}:0`]);
    for (const [toml, message, listen] of cases) {
      const run = await attempt(toml, listen);
      expect({ toml, code: run.code, stderr: run.stderr }).toMatchObject({ toml, code: 78, stderr: expect.stringMatching(message) });
    }
  });
});
