// `mailer smtpd` under load and abuse (issue 16 item 3), through the compiled binary: 1,000 slow
// clients at once, large messages beyond the memory budget, one address with too many connections
// or messages, clients that go quiet. The smtpd process's resident memory is sampled from /proc.
import { afterEach, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { runMailer } from "../helpers/cli.ts";
import { testQueue, type TestQueue } from "../helpers/intake.ts";
import { pythonSend, smtpConversation, startSmtpd, type SmtpdProcess } from "../helpers/smtpd-process.ts";

let tq: TestQueue | null = null;
let smtpd: SmtpdProcess | null = null;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  if (smtpd) await smtpd.stop();
  smtpd = null;
  await tq?.cleanup();
  tq = null;
});

const MIB = 1024 * 1024;
/** The documented ceiling (docs/security.md): 80 MiB plus 8 x smtpd.memory_limit. */
const ceilingMib = (memoryLimitMib: number) => 80 + 8 * memoryLimitMib;

/** Samples the process's resident memory every 100 ms until stopped; returns the peak in MiB. */
function sampleRss(pid: number): { stop(): number } {
  let peak = 0;
  const read = () => {
    try {
      const kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
      peak = Math.max(peak, kib / 1024);
    } catch {
      // exited
    }
  };
  const timer = setInterval(read, 100);
  read();
  return {
    stop() {
      clearInterval(timer);
      read();
      return peak;
    },
  };
}

/** A client that opens a transaction and then trickles its text: connected, greeted, in DATA. */
function slowClient(port: number, from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress: from });
    sockets.push(socket);
    let seen = "";
    socket.on("error", reject);
    socket.on("data", (d) => {
      seen += d.toString("latin1");
      if (seen.startsWith("220") && !seen.includes("EHLO sent")) {
        seen += "EHLO sent";
        socket.write("EHLO slow.test\r\nMAIL FROM:<slow@example.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n");
      }
      if (/\r\n354 /.test(seen) || seen.includes("354 ")) {
        seen = "in data";
        socket.write(`From: slow@example.com\r\nSubject: slow\r\n\r\n${"x".repeat(8 * 1024)}\r\n`);
        resolve(socket);
      }
    });
  });
}

test("1,000 slow clients, each in the middle of DATA: a normal client still gets 250 at once, and memory stays bounded", async () => {
  tq = await testQueue("sqlite", "[smtpd]\nmax_clients = 1100\n");
  smtpd = await startSmtpd(tq.config);
  const memory = sampleRss(smtpd.proc.pid);
  // In waves, as a crowd of clients arrives; from 127.0.0.2, so the normal client is told apart.
  for (let wave = 0; wave < 10; wave++) {
    await Promise.all(Array.from({ length: 100 }, () => slowClient(smtpd!.port, "127.0.0.2")));
  }
  const trickle = setInterval(() => sockets.forEach((s) => s.write("y".repeat(100) + "\r\n")), 500);
  try {
    const started = performance.now();
    const normal = await pythonSend(smtpd.port, {
      from: "app@example.com", to: ["b@example.com"], message: "From: app@example.com\r\nSubject: normal\r\n\r\nhello\r\n",
    });
    const tookMs = performance.now() - started;
    expect(normal).toMatchObject({ ok: true });
    // Not a timing assertion on the machine's speed: only that it was not made to wait for the crowd.
    expect(tookMs).toBeLessThan(10_000);
    expect(sockets.filter((s) => !s.destroyed)).toHaveLength(1000);
  } finally {
    clearInterval(trickle);
  }
  const peak = memory.stop();
  console.log(`smtpd with 1,000 slow clients: peak RSS ${peak.toFixed(0)} MiB`);
  expect(peak).toBeLessThan(ceilingMib(64)); // the default memory_limit
  for (const s of sockets.splice(0)) s.destroy();
  expect(await tq.rows()).toHaveLength(1);
});

/** Sends one message of `size` bytes over a raw connection as fast as it can; the final reply code. */
function bigSender(port: number, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    sockets.push(socket);
    let seen = "";
    let phase = 0;
    socket.on("error", reject);
    socket.on("data", (d) => {
      seen += d.toString("latin1");
      if (phase === 0 && seen.startsWith("220")) {
        phase = 1;
        socket.write("EHLO big.test\r\nMAIL FROM:<big@example.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n");
      } else if (phase === 1 && /(^|\r\n)354 /.test(seen)) {
        phase = 2;
        seen = "";
        const line = "z".repeat(998) + "\r\n";
        socket.write(`From: big@example.com\r\nSubject: big\r\n\r\n${line.repeat(Math.floor(size / line.length))}.\r\n`);
      } else if (phase === 2 && /^\d{3} /m.test(seen)) {
        resolve(Number(seen.slice(0, 3)));
        socket.end("QUIT\r\n");
      }
    });
  });
}

test("memory_limit bounds the data held: beyond it a message gets 452 (try later), the rest are queued, memory stays bounded", async () => {
  tq = await testQueue("sqlite", `[queue]\nmax_size = ${21 * MIB}\n[smtpd]\nmemory_limit = ${48 * MIB}\n`);
  smtpd = await startSmtpd(tq.config);
  const memory = sampleRss(smtpd.proc.pid);
  const codes = await Promise.all(Array.from({ length: 8 }, () => bigSender(smtpd!.port, 20 * MIB)));
  const peak = memory.stop();
  console.log(`smtpd with 8 x 20 MiB at once, memory_limit 48 MiB: replies ${codes.join(" ")}, peak RSS ${peak.toFixed(0)} MiB`);
  expect(codes.every((c) => c === 250 || c === 452)).toBe(true);
  expect(codes.filter((c) => c === 452).length).toBeGreaterThan(0);
  expect(await tq.rows()).toHaveLength(codes.filter((c) => c === 250).length);
  expect(peak).toBeLessThan(ceilingMib(48));
  expect(smtpd.lines.join("\n")).toContain("smtpd.memory_limit was spent");
  // Once the crowd is gone the budget is whole again.
  expect(await bigSender(smtpd.port, 20 * MIB)).toBe(250);
});

test("max_clients_per_ip: one address gets 421 past its share while another is served; client_rate: 450 past the rate", async () => {
  tq = await testQueue("sqlite", '[smtpd]\nmax_clients_per_ip = 3\nclient_rate = "2/h"\n');
  smtpd = await startSmtpd(tq.config);
  const greet = (from: string) =>
    new Promise<string>((resolve) => {
      const socket = connect({ port: smtpd!.port, host: "127.0.0.1", localAddress: from });
      sockets.push(socket);
      socket.once("data", (d) => resolve(d.toString("latin1")));
    });
  const greetings = [];
  for (let i = 0; i < 4; i++) greetings.push(await greet("127.0.0.2"));
  expect(greetings.map((g) => g.slice(0, 3))).toEqual(["220", "220", "220", "421"]);
  expect(greetings[3]).toContain("too many connections from your address");
  // Closing one frees its place.
  sockets[0]!.destroy();
  await Bun.sleep(200);
  expect((await greet("127.0.0.2")).slice(0, 3)).toBe("220");

  const smtp = await smtpConversation(smtpd.port);
  await smtp.command("EHLO rate.test");
  const send = async () => {
    const mail = await smtp.command("MAIL FROM:<a@example.com>");
    if (!mail.startsWith("250")) return mail;
    await smtp.command("RCPT TO:<b@example.com>");
    await smtp.command("DATA");
    return smtp.command("From: a@example.com\r\n\r\nbody\r\n.");
  };
  expect((await send()).slice(0, 3)).toBe("250");
  expect((await send()).slice(0, 3)).toBe("250");
  const third = await send();
  expect(third).toMatch(/^450 4\.7\.1 too many messages from your address/);
  smtp.close();
  expect(await tq.rows()).toHaveLength(2);
});

test("idle_timeout: a client that goes quiet is told 421 and closed; bad limits are config errors", async () => {
  tq = await testQueue("sqlite", '[smtpd]\nidle_timeout = "1s"\n');
  smtpd = await startSmtpd(tq.config);
  const smtp = await smtpConversation(smtpd.port);
  const started = performance.now();
  const bye = await smtp.reply();
  expect(bye).toMatch(/^421 /);
  expect(performance.now() - started).toBeGreaterThan(500);
  smtp.close();
  await smtpd.stop();
  smtpd = null;
  const base = readFileSync(tq.config, "utf8").replace(/\[smtpd\][\s\S]*$/, "");
  for (const [toml, message] of [
    ["[smtpd]\nmemory_limit = 1000\n", /smtpd\.memory_limit \(1000\) is below queue\.max_size/],
    ['[smtpd]\nclient_rate = "lots"\n', /smtpd\.client_rate: expected a rate such as/],
    ["[smtpd]\nmax_clients = 0\n", /smtpd\.max_clients: expected an integer >= 1/],
  ] as const) {
    writeFileSync(tq.config, base + toml);
    const run = await runMailer(["smtpd", "--config", tq.config, "--listen", "127.0.0.1:0"]);
    expect({ toml, code: run.code, stderr: run.stderr }).toMatchObject({ toml, code: 78, stderr: expect.stringMatching(message) });
  }
});

/** Connects and writes EHLO at once, before any greeting: what the server says first. */
function earlyTalker(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" }, () => socket.write("EHLO eager.test\r\n"));
    sockets.push(socket);
    let seen = "";
    socket.on("error", reject);
    socket.on("data", (d) => {
      seen += d.toString("latin1");
      if (/^(421|\d{3} [^\r]*\r\n\d{3}[ -])/.test(seen) || seen.startsWith("421")) resolve(seen);
    });
    socket.on("close", () => resolve(seen));
  });
}

test("no greet pause on loopback (a client that talks first is served); greet_pause refuses one that does", async () => {
  tq = await testQueue("sqlite");
  smtpd = await startSmtpd(tq.config);
  expect(await earlyTalker(smtpd.port)).toMatch(/^220 [^\r]*\r\n250-/);
  await smtpd.stop();
  writeFileSync(tq.config, readFileSync(tq.config, "utf8") + '[smtpd]\ngreet_pause = "0.5s"\n');
  smtpd = await startSmtpd(tq.config);
  expect(await earlyTalker(smtpd.port)).toMatch(/^421 .*You talk too soon/);
  // A client that waits for the greeting is served as usual.
  const smtp = await smtpConversation(smtpd.port);
  expect(smtp.greeting).toMatch(/^220 /);
  expect(await smtp.command("EHLO patient.test")).toMatch(/^250[ -]/);
  smtp.close();
});

test("20 sessions committing at once (one group commit): each 250 names its own queued id, and a refused message fails no other", async () => {
  tq = await testQueue("sqlite");
  smtpd = await startSmtpd(tq.config);
  const sessions = await Promise.all(Array.from({ length: 20 }, () => smtpConversation(smtpd!.port)));
  for (const [i, s] of sessions.entries()) {
    await s.command("EHLO group.test");
    await s.command("MAIL FROM:<a@example.com>");
    await s.command(`RCPT TO:<r${i}@example.com>`);
    await s.command("DATA");
  }
  // Every session's final dot at once; the last one's text is not a message.
  const text = (i: number) => (i === 19 ? "this is not a header\r\n\r\nbody\r\n." : `From: a@example.com\r\nSubject: s${i}\r\n\r\nbody ${i}\r\n.`);
  const replies = await Promise.all(sessions.map((s, i) => s.command(text(i))));
  for (const s of sessions) s.close();
  const queued = replies.slice(0, 19).map((r) => /^250 2\.0\.0 OK: queued as (\d+)/.exec(r)?.[1]);
  expect(queued.every((id) => id !== undefined)).toBe(true);
  expect(new Set(queued).size).toBe(19);
  expect(replies[19]).toMatch(/^554 5\.6\.0 not an RFC 5322 message/);
  const rows = await tq.rows();
  expect(rows.map((r) => String(r.id)).sort()).toEqual([...queued].sort() as string[]);
  expect(rows.map((r) => r.envelopeTo[0]).sort()).toEqual(Array.from({ length: 19 }, (_, i) => `r${i}@example.com`).sort());
});
