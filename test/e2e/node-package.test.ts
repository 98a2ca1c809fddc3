// The library as a Node.js application gets it: `npm pack`, the tarball installed into a fresh project,
// and a script run by the machine's Node (20) that queues through queueTransport, sendMail,
// sendMassMail and mailAdmins into PostgreSQL; `mailer send-mail` delivers it all to a real SMTP sink,
// byte for byte what the same message queued from Bun becomes. The declarations compile in a strict
// TypeScript consumer.
import { afterAll, beforeAll, expect } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import nodemailer from "nodemailer";
import { loginOf } from "../../src/queue/host-identity.ts";
import { openQueue } from "../../src/queue/open.ts";
import { queueTransport } from "../../src/queue/transport.ts";
import { runMailer, writeConfig } from "../helpers/cli.ts";
import { createPgDatabase, tempDir } from "../helpers/db.ts";
import { testFor } from "../helpers/dialects.ts";
import { startSink, type Sink } from "../helpers/smtp-sink.ts";

const ROOT = resolve(import.meta.dir, "../..");
const it = testFor("postgres");

/** Run a program to its end; throws with its output when it fails. */
function sh(argv: string[], cwd: string, env: Record<string, string> = {}): string {
  const run = Bun.spawnSync(argv, { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const out = run.stdout.toString();
  if (run.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${run.exitCode}\n${out}\n${run.stderr.toString()}`);
  return out;
}

/** The one message queued from Node and from Bun alike: fixed Message-ID and Date, so the bytes compare. */
const SAME = { from: "app@example.com", to: "same@example.com", subject: "same bytes", text: "Hello from either runtime.\n", date: new Date("2026-12-04T12:00:00Z") };

let dir: ReturnType<typeof tempDir>;
let sink: Sink;
let pg: Awaited<ReturnType<typeof createPgDatabase>> | null = null;
beforeAll(async () => {
  dir = tempDir("mailer-npm-");
  sink = await startSink();
});
afterAll(async () => {
  await sink.close();
  await pg?.drop();
  dir.cleanup();
});

it("a Node 20 app installs the packed tarball, queues with every helper, and send-mail delivers it", async () => {
  pg = await createPgDatabase();
  const config = writeConfig(
    dir.path,
    `[database]\nurl = "${pg.url}"\n[backend]\nhost = "127.0.0.1"\nport = ${sink.port}\n` +
      `[queue]\naliases = ""\ndefault_domain = "example.org"\nadmins = ["admin1@example.com", "admin2@example.com"]\n[lock]\npath = "${dir.path}/send_mail"\n`,
  );
  expect((await runMailer(["migrate", "--config", config])).code).toBe(0);

  sh(["npm", "pack", "--pack-destination", dir.path], ROOT);
  const tarball = readdirSync(dir.path).find((n) => /^mailer-queue-.*\.tgz$/.test(n))!;
  const app = join(dir.path, "app");
  sh(["mkdir", "-p", app], dir.path);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  // From npm's cache where it has the packages (the registry for what it lacks); the tarball itself is local.
  sh(["npm", "install", join(dir.path, tarball), "@types/node@20", "--prefer-offline", "--no-audit", "--no-fund"], app);

  writeFileSync(
    join(app, "send.mjs"),
    `import nodemailer from "nodemailer";
import { openQueue, queueTransport, sendMail, sendHtmlMail, sendMassMail, mailAdmins, closeDefaultQueue } from "mailer-queue";
const queue = await openQueue();
const transporter = nodemailer.createTransport(queueTransport(queue));
const same = ${JSON.stringify({ ...SAME, date: SAME.date.toISOString() })};
const info = await transporter.sendMail({ ...same, date: new Date(same.date), messageId: "<same-node@example.com>" });
const ids = {
  transport: info.queueId,
  sendMail: await sendMail("plain", "body", "app@example.com", ["one@example.com"], { priority: "high" }),
  sendHtmlMail: await sendHtmlMail("html", "text part", "<p>html part</p>", undefined, ["two@example.com"]),
  sendMassMail: await sendMassMail([["m1", "b1", "app@example.com", ["m1@example.com"]], ["m2", "b2", "app@example.com", ["m2@example.com"]]]),
  mailAdmins: await mailAdmins("admins", "for the admins"),
};
await queue.close();
await closeDefaultQueue();
console.log(JSON.stringify({ node: process.versions.node, ids }));
`,
  );
  const out = JSON.parse(sh(["node", "send.mjs"], app, { MAILER_CONFIG: config }));
  expect(out.node).toMatch(/^20\./);
  expect(out.ids).toEqual({ transport: 1, sendMail: [2], sendHtmlMail: [3], sendMassMail: [4, 5], mailAdmins: [6] });

  // The same message from Bun, through the sources.
  const queue = await openQueue({ config });
  try {
    const info = await nodemailer.createTransport(queueTransport(queue)).sendMail({ ...SAME, messageId: "<same-bun@example.com>" });
    expect(info.queueId).toBe(7);
  } finally {
    await queue.close();
  }

  const sent = await runMailer(["send-mail", "--config", config]);
  expect(sent.stdout).toMatch(/^7 sent, 0 deferred, 0 failed/);
  const bySubject = new Map(sink.received.map((m) => [m.subject, m]));
  expect(bySubject.get("admins")!.to).toEqual(["admin1@example.com", "admin2@example.com"]);
  // No sender given: the login of the Node process's uid at default_domain.
  expect(bySubject.get("html")!.from).toBe(`${loginOf(process.getuid!())}@example.org`);
  expect(bySubject.get("html")!.raw.toString()).toContain("<p>html part</p>");
  expect(bySubject.get("plain")!.raw.toString()).not.toContain("X-Mailer-Priority");
  const [fromNode, fromBun] = sink.received.filter((m) => m.subject === "same bytes").map((m) => m.raw.toString("latin1"));
  expect(fromNode!.replace("<same-node@example.com>", "<id>")).toBe(fromBun!.replace("<same-bun@example.com>", "<id>"));

  // SQLite on a Node without node:sqlite (before 22.5): a clear configuration error, not a crash.
  writeFileSync(join(app, "sqlite.mjs"), `import { openQueue } from "mailer-queue";
try { await openQueue({ url: "sqlite:./q.db" }); console.log("opened"); } catch (error) { console.log(error.name + ": " + error.message); }
`);
  const sqlite = sh(["node", "sqlite.mjs"], app);
  // (The Node under test is 20, asserted above: it has no node:sqlite.)
  expect(sqlite).toStartWith("ConfigError: database.url: SQLite on Node.js needs node:sqlite (Node.js 22.5 or later); this is Node.js 20.");

  // A TypeScript consumer, strict, against the packaged declarations.
  writeFileSync(
    join(app, "app.ts"),
    `import { openQueue, sendMail, type QueueIds } from "mailer-queue";
const queue = await openQueue({ url: "postgres://x@localhost/db" });
const ids: QueueIds = await sendMail("s", "t", "a@example.com", ["b@example.com"], { queue, priority: "high" });
const first: number | null = ids[0] ?? null;
console.log(first);
`,
  );
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", noEmit: true, types: ["node"] }, files: ["app.ts"] }),
  );
  sh([join(ROOT, "node_modules/.bin/tsc"), "-p", "."], app);
}, 180_000);
