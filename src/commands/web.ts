// `mailer web`: the operator's console (docs/web.md). Loopback without a password is allowed (only
// this host's users can reach it); any other address needs [web] password, or --force.
// SIGTERM/SIGINT: stop listening, let requests in flight finish, exit 0.
import { openContext, type GlobalOptions } from "../context.ts";
import { runPass } from "../engine/pass.ts";
import { ConfigError, UsageError, errorText } from "../errors.ts";
import { Queue } from "../queue/queue.ts";
import { addToken, readTokens, revokeToken } from "../web/api/tokens.ts";
import { isLoopback, parseListen } from "../intake/listen.ts";
import { serveHttp, writeStderr } from "../runtime.ts";
import { createConsole } from "../web/server.ts";
import { stopOnSignals } from "./stop-signals.ts";

export async function run(args: string[], options: GlobalOptions & { listen?: string; force?: boolean; scope?: string }): Promise<number> {
  if (args[0] === "token") return tokenCommand(args.slice(1), options);
  if (args.length > 0) throw new UsageError(`web: unexpected ${JSON.stringify(args[0])} (mailer web [--listen ADDR], or mailer web token add|list|revoke)`);
  const ctx = await openContext(options);
  try {
    const { config, logger } = ctx;
    const origin = options.listen !== undefined ? "--listen" : "web.listen";
    const listen = parseListen(String(options.listen ?? config.web.listen), origin);
    const loginRequired = config.web.password !== "";
    if (!loginRequired && !isLoopback(listen.host) && options.force !== true) {
      throw new ConfigError(
        `web: refusing to listen on ${listen.host}:${listen.port} without a password (web.password, password_env or password_file): ` +
          "anyone who can reach it could read and delete the queue. Set one, or pass --force if something in front of it (a reverse proxy with its own login) guards it",
      );
    }
    const db = await ctx.database();
    const queue = new Queue(config, logger);
    ctx.onClose(() => queue.close());
    const app = createConsole({
      db,
      queue,
      config,
      logger,
      clock: ctx.clock,
      sendNow: (ids) => runPass({ config, logger, db, clock: ctx.clock }, { only: ids }),
    });
    const stop = stopOnSignals(logger);
    ctx.onClose(() => stop.dispose());
    let server;
    try {
      server = await serveHttp(listen, (request, ip) => app.fetch(request, { ip }));
    } catch (error) {
      throw new ConfigError(`web: cannot listen on ${listen.host}:${listen.port}: ${errorText(error)}`);
    }
    const shown = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
    logger.info("web console listening", { url: `http://${shown}:${server.port}/`, port: server.port, login_required: loginRequired });
    await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
    logger.info("web console stopping");
    await server.stop();
    return 0;
  } finally {
    await ctx.close();
  }
}

/** `mailer web token add NAME --scope S | list | revoke NAME`: reads only [web] and [log]. */
async function tokenCommand(args: string[], options: GlobalOptions & { scope?: string }): Promise<number> {
  const [action, name, ...rest] = args;
  if (action !== "add" && action !== "list" && action !== "revoke") throw new UsageError("web token: expected add NAME --scope send|read|admin, list, or revoke NAME");
  if (rest.length > 0 || (action === "list" ? name !== undefined : name === undefined)) {
    throw new UsageError(action === "list" ? "web token list takes no arguments" : `web token ${action}: give one NAME`);
  }
  if (action === "add" && options.scope === undefined) throw new UsageError("web token add: --scope send|read|admin is required");
  const ctx = await openContext({ ...options, uses: ["web", "log"] });
  try {
    const path = ctx.config.web.tokens_file;
    if (path === "") throw new ConfigError("web.tokens_file is not set: name the file that keeps the API tokens (e.g. /etc/mailer/api-tokens)");
    if (action === "add") {
      const token = addToken(path, name!, options.scope!, ctx.clock());
      // The token itself goes to stdout alone (for `TOKEN=$(mailer web token add …)`), once.
      process.stdout.write(token + "\n");
      writeStderr(`token ${name} (scope ${options.scope}) added to ${path}; it is shown this once\n`);
    } else if (action === "list") {
      for (const e of readTokens(path)) process.stdout.write(`${e.name}\t${e.scope}\t${e.created}\n`);
    } else {
      if (!revokeToken(path, name!)) {
        writeStderr(`mailer: web token revoke: no token named ${name}\n`);
        return 1;
      }
      process.stdout.write(`revoked: ${name}\n`);
    }
    return 0;
  } finally {
    await ctx.close();
  }
}
