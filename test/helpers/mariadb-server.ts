// A throwaway MariaDB server of a test's own, for tests that stop or restart it: the shared server on
// 3306 must never be touched (other suites run against it at the same time).
//
//   const server = await startMariadbServer();   // mariadb-install-db + mariadbd on a free port
//   server.urlFor("mailer")                      // mysql://root@127.0.0.1:PORT/mailer
//   await server.stop(); await server.start();
//   await server.cleanup();                      // stop (if running) and delete the data directory
//
// mariadbd will not run as root: the data directory belongs to the `mysql` OS user, which it runs as.
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { freePort } from "./pg-cluster.ts";

export interface MariadbServer {
  port: number;
  urlFor(database: string): string;
  start(): Promise<void>;
  /** A clean shutdown (SIGTERM), as `systemctl stop mariadb` does: sessions are cut. */
  stop(): Promise<void>;
  running: boolean;
  cleanup(): Promise<void>;
}

async function run(argv: string[]): Promise<void> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}:\n${out}${err}`);
}

export async function startMariadbServer(): Promise<MariadbServer> {
  const dir = mkdtempSync(join(tmpdir(), "mailer-mariadb-"));
  const user = userInfo().uid === 0 ? "mysql" : userInfo().username;
  if (userInfo().uid === 0) {
    const id = (flag: string) => Number(Bun.spawnSync(["id", flag, "mysql"]).stdout.toString().trim());
    chownSync(dir, id("-u"), id("-g"));
  }
  const data = join(dir, "data");
  // Its own temporary directory: a mariadbd starting up deletes the #sql* files it finds in its
  // tmpdir, and in /tmp those are the shared server's temporary tables in use by other tests.
  const temporary = join(dir, "tmp");
  mkdirSync(temporary);
  if (userInfo().uid === 0) chownSync(temporary, statSync(dir).uid, statSync(dir).gid);
  await run(["mariadb-install-db", "--no-defaults", `--datadir=${data}`, `--tmpdir=${temporary}`, `--user=${user}`, "--auth-root-authentication-method=normal", "--skip-test-db"]);
  const port = await freePort();
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  const urlFor = (database: string) => `mysql://root@127.0.0.1:${port}/${database}`;
  const server: MariadbServer = {
    port,
    urlFor,
    running: false,
    async start() {
      proc = Bun.spawn(
        [
          "mariadbd", "--no-defaults", `--datadir=${data}`, `--tmpdir=${temporary}`, `--user=${user}`, `--port=${port}`, "--bind-address=127.0.0.1",
          `--socket=${join(dir, "sock")}`, `--pid-file=${join(dir, "pid")}`, `--log-error=${join(dir, "error.log")}`,
          "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=64M",
        ],
        { stdout: "ignore", stderr: "ignore", stdin: "ignore" },
      );
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const c = await mysql.createConnection({ host: "127.0.0.1", port, user: "root", connectTimeout: 1000 });
          await c.end();
          break;
        } catch (error) {
          if (proc.exitCode !== null || Date.now() > deadline) {
            let log = "";
            try {
              log = readFileSync(join(dir, "error.log"), "utf8");
            } catch {}
            throw new Error(`mariadbd did not start: ${error}\n${log}`);
          }
          await Bun.sleep(100);
        }
      }
      server.running = true;
    },
    async stop() {
      if (!proc) return;
      proc.kill("SIGTERM");
      await proc.exited;
      proc = null;
      server.running = false;
    },
    async cleanup() {
      if (proc) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
  } catch (error) {
    await server.cleanup();
    throw error;
  }
  return server;
}
