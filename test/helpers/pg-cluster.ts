// A throwaway PostgreSQL cluster of a test's own, for tests that stop, restart or break the server:
// the shared server on 5432 must never be touched (other suites run against it at the same time).
//
//   const pg = await startPgCluster();   // initdb + start on a free port
//   pg.url                               // postgres://postgres@127.0.0.1:PORT/postgres
//   await pg.restart(); await pg.stop(); await pg.start();
//   await pg.cleanup();                  // stop (if running) and delete the data directory
//
// initdb refuses to run as root, so the data directory belongs to the `postgres` OS user and the
// server binaries run through runuser when the test runs as root.
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

const BIN = process.env.MAILER_TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface PgCluster {
  dir: string;
  port: number;
  /** URL of the `postgres` database as the `postgres` superuser (trust auth). */
  url: string;
  /** The same server, another database. */
  urlFor(database: string): string;
  start(): Promise<void>;
  /** Fast shutdown (`-m fast`): sessions are terminated, as in a real restart. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  running: boolean;
  cleanup(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function asPostgres(args: string[]): Promise<string> {
  const argv = userInfo().uid === 0 ? ["runuser", "-u", "postgres", "--", ...args] : args;
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`${args.join(" ")} exited ${code}:\n${stdout}${stderr}`);
  return stdout;
}

export async function startPgCluster(): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), "mailer-pgcluster-"));
  if (userInfo().uid === 0) {
    const id = (flag: string) => Number(Bun.spawnSync(["id", flag, "postgres"]).stdout.toString().trim());
    chownSync(dir, id("-u"), id("-g"));
  }
  const data = join(dir, "data");
  await asPostgres([join(BIN, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  const ctl = (...args: string[]) =>
    asPostgres([
      join(BIN, "pg_ctl"), "-D", data, "-w", "-t", "60", "-l", join(dir, "log"),
      "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, ...args,
    ]);
  const urlFor = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const cluster: PgCluster = {
    dir,
    port,
    url: urlFor("postgres"),
    urlFor,
    running: false,
    async start() {
      await ctl("start");
      cluster.running = true;
    },
    async stop() {
      await ctl("-m", "fast", "stop");
      cluster.running = false;
    },
    async restart() {
      await ctl("-m", "fast", "restart");
      cluster.running = true;
    },
    async cleanup() {
      if (cluster.running) await cluster.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.start();
  } catch (error) {
    await cluster.cleanup();
    throw error;
  }
  return cluster;
}
