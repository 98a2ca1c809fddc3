// Step: the HTTP API's enqueue throughput. `mailer web` runs as a process on a fresh database with an
// API token; clients POST to /api/v1/messages over keep-alive connections, several requests in
// flight. Single: one message per request (the bench's raw messages as {raw, envelope}), and the same
// as nodemailer-composed {from, to, subject, text}. Batched: 500 raw messages per request. Every
// figure is checked against the rows the database holds afterwards.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addRow, say, type Bench } from "../context.ts";
import { usingDatabase, type BenchDb, type Dialect } from "../db.ts";
import { benchMessage } from "../messages.ts";
import { round, runOk } from "../proc.ts";
import { startWeb } from "../web-process.ts";
import { migratedDb } from "./commands.ts";

const rowCount = (db: BenchDb) =>
  usingDatabase(db, async (kysely) => {
    const { n } = await kysely.selectFrom("mailer_message").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow();
    return Number(n);
  });

/** `requests` POSTs of bodyOf(i), `inFlight` at a time; seconds from the first to the last reply. */
async function drive(url: string, token: string, requests: number, inFlight: number, bodyOf: (i: number) => string): Promise<number> {
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < requests) {
      const i = next++;
      const response = await fetch(url, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: bodyOf(i) });
      if (response.status !== 201) throw new Error(`POST ${url}: HTTP ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return (performance.now() - started) / 1000;
}

const rawJson = (i: number, tag: string) => {
  const m = benchMessage(i, tag);
  return { raw: m.raw, envelope: m.envelope };
};

export async function apiStep(bench: Bench): Promise<void> {
  const single = bench.quick ? 2_000 : 10_000;
  const batches = bench.quick ? 20 : 100;
  const raw: Record<string, unknown> = {};
  for (const dialect of bench.dialects as Dialect[]) {
    const { db, config } = await migratedDb(bench, dialect);
    try {
      writeFileSync(config, readFileSync(config, "utf8") + `\n[web]\ntokens_file = ${JSON.stringify(join(db.dir, "api-tokens"))}\n`);
      const token = (await runOk("web token add", [bench.binary, "web", "token", "add", "bench", "--scope", "send", "--config", config], { cwd: db.dir })).stdout.trim();
      const { proc, base } = await startWeb(bench, config, db.dir);
      try {
        const url = `${base}/api/v1/messages`;
        await drive(url, token, 200, 8, (i) => JSON.stringify(rawJson(i, "warm"))); // warm-up
        const before = await rowCount(db);
        // Request bodies are made before the clock starts: a client has its mail at hand, and on a
        // 2-core machine the bench's own JSON work would otherwise be counted against the server.
        const bodies = {
          single: Array.from({ length: single }, (_, i) => JSON.stringify(rawJson(i, "single"))),
          composed: Array.from({ length: single / 4 }, (_, i) => JSON.stringify({ from: "app@example.test", to: `user${i}@example.test`, subject: `composed ${i}`, text: "Hello from the bench." })),
          batched: Array.from({ length: batches }, (_, b) => JSON.stringify(Array.from({ length: 500 }, (_, i) => rawJson(b * 500 + i, "batch")))),
        };
        const singleS = await drive(url, token, single, 16, (i) => bodies.single[i]!);
        const composedS = await drive(url, token, single / 4, 16, (i) => bodies.composed[i]!);
        const batchS = await drive(url, token, batches, 4, (b) => bodies.batched[b]!);
        const stored = (await rowCount(db)) - before;
        const expected = single + single / 4 + batches * 500;
        if (stored !== expected) throw new Error(`${dialect}: ${stored} rows stored, ${expected} expected`);
        const figures = { single: single / singleS, composed: single / 4 / composedS, batched: (batches * 500) / batchS };
        say(`api ${dialect}: single ${Math.round(figures.single)} req/s, composed ${Math.round(figures.composed)} req/s, batched ${Math.round(figures.batched)} msg/s`);
        addRow(bench, { id: "api.single", label: "API enqueue, 1 raw message per request (16 in flight)", unit: "req/s", values: { [dialect]: figures.single }, target: { sqlite: { op: ">=", value: 3000 } } });
        addRow(bench, { id: "api.composed", label: "API enqueue, 1 composed message per request", unit: "req/s", values: { [dialect]: figures.composed } });
        addRow(bench, { id: "api.batched", label: "API enqueue, 500 raw messages per request (4 in flight)", unit: "msg/s", values: { [dialect]: figures.batched }, target: { sqlite: { op: ">=", value: 40_000 } } });
        raw[dialect] = { requests: { single, composed: single / 4, batches }, seconds: { single: round(singleS, 3), composed: round(composedS, 3), batched: round(batchS, 3) }, stored };
      } finally {
        proc.kill("SIGTERM");
        await proc.exited;
      }
    } finally {
      await db.drop();
    }
  }
  bench.raw.api = raw;
}
