// `mailer web`: the operator's console (docs/web.md). Loopback without a password is allowed (only
// this host's users can reach it); any other address needs [web] password, or --force.
// SIGTERM/SIGINT: stop listening, let requests in flight finish, exit 0.
import { openContext, type GlobalOptions } from "../context.ts";
import { runPass } from "../engine/pass.ts";
import { ConfigError, errorText } from "../errors.ts";
import { isLoopback, parseListen } from "../intake/listen.ts";
import { serveHttp } from "../runtime.ts";
import { createConsole } from "../web/server.ts";
import { stopOnSignals } from "./stop-signals.ts";

export async function run(_args: string[], options: GlobalOptions & { listen?: string; force?: boolean }): Promise<number> {
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
    const app = createConsole({
      db,
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
