// `mailer smtpd` as a background process for tests, a line-level SMTP client for exact replies, and
// Python's smtplib as a real third-party client.
import { connect, type Socket } from "node:net";
import { startService, type ServiceProcess } from "./service-process.ts";

export type SmtpdProcess = ServiceProcess;

/** Start smtpd on a free loopback port (--listen 127.0.0.1:0) and wait until it listens. */
export function startSmtpd(config: string, args: string[] = ["--listen", "127.0.0.1:0"]): Promise<SmtpdProcess> {
  return startService(["smtpd", "--config", config, "--log-format", "json", ...args], /smtpd listening/);
}

/** A raw SMTP conversation: each command returns the complete (possibly multi-line) reply. */
export async function smtpConversation(port: number, host = "127.0.0.1") {
  const socket: Socket = connect(port, host);
  let buffer = "";
  const waiting: Array<() => void> = [];
  socket.on("data", (d) => {
    buffer += d.toString("latin1");
    for (const wake of waiting.splice(0)) wake();
  });
  socket.on("close", () => {
    for (const wake of waiting.splice(0)) wake();
  });
  const reply = () =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer);
        if (match) {
          const end = match.index + match[0].length;
          const text = buffer.slice(0, end);
          buffer = buffer.slice(end);
          resolve(text.replace(/^\r\n/, ""));
        } else if (socket.destroyed) reject(new Error(`connection closed; got ${JSON.stringify(buffer)}`));
        else waiting.push(check);
      };
      check();
    });
  const greeting = await reply();
  return {
    greeting,
    reply,
    async command(line: string): Promise<string> {
      socket.write(line + "\r\n");
      return reply();
    },
    write(data: string | Uint8Array) {
      socket.write(data);
    },
    close() {
      socket.destroy();
    },
  };
}

/** Send one message with Python's smtplib; returns what the script printed (JSON). */
export async function pythonSend(port: number, options: { from: string; to: string[]; message: string; login?: [string, string] }) {
  const script = `
import json, smtplib, sys
o = json.loads(sys.argv[1])
s = smtplib.SMTP("127.0.0.1", o["port"], timeout=20)
s.ehlo("python.test")
out = {"size": s.esmtp_features.get("size"), "auth": s.esmtp_features.get("auth")}
try:
    if o.get("login"):
        s.login(*o["login"])
    refused = s.sendmail(o["from"], o["to"], o["message"].encode("utf-8"))
    out.update(ok=True, refused={k: list(v) for k, v in refused.items()})
except smtplib.SMTPResponseException as e:
    out.update(ok=False, code=e.smtp_code, error=e.smtp_error.decode())
except smtplib.SMTPRecipientsRefused as e:
    out.update(ok=False, code=list(e.recipients.values())[0][0], error="recipients refused")
s.quit()
print(json.dumps(out))
`;
  const proc = Bun.spawn(["python3", "-c", script, JSON.stringify({ port, ...options })], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  if (!stdout.trim()) throw new Error(`python smtplib failed: ${stderr}`);
  return JSON.parse(stdout) as { ok: boolean; code?: number; error?: string; size?: string; auth?: string; refused?: Record<string, unknown> };
}
