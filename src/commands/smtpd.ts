// `mailer smtpd`: the SMTP submission intake. Loopback by default; refuses to become an open relay.
// SIGTERM/SIGINT: stop accepting, finish the messages in flight, exit 0 (a second signal: exit now).
import { openContext, type GlobalOptions } from "../context.ts";
import { ConfigError, TempFailError, errorText } from "../errors.ts";
import { checkRelayPolicy, isLoopback, parseListen } from "../intake/listen.ts";
import { loadTls, watchTls, type TlsFiles } from "../intake/smtpd-tls.ts";
import type { Config } from "../config/types.ts";
import { SmtpdGuard } from "../intake/smtpd-guard.ts";
import { parseRate } from "../limits/rate.ts";
import { createIntake, type Intake } from "../intake/smtp-intake.ts";
import { queueTarget } from "../intake/submit-target.ts";
import { Queue } from "../queue/queue.ts";
import { stopOnSignals } from "./stop-signals.ts";

export async function run(_args: string[], options: GlobalOptions & { listen?: string; force?: boolean }): Promise<number> {
  const ctx = await openContext(options);
  try {
    const { smtpd } = ctx.config;
    const origin = options.listen !== undefined ? "--listen" : "smtpd.listen";
    const listen = parseListen(String(options.listen ?? smtpd.listen), origin);
    if (smtpd.user !== "" && smtpd.password === "") {
      throw new ConfigError("smtpd.user is set but no password is (smtpd.password, password_env or password_file)");
    }
    const auth = smtpd.user !== "" ? { user: smtpd.user, password: smtpd.password } : undefined;
    checkRelayPolicy(listen, {
      authRequired: auth !== undefined,
      allowFrom: smtpd.allow_from,
      allowOpenRelay: smtpd.allow_open_relay,
      force: options.force === true,
    });
    const tlsFiles = tlsFilesOf(smtpd);
    const loopback = isLoopback(listen.host);
    if (auth && !loopback && !tlsFiles) {
      throw new ConfigError(
        `smtpd.user is set on a non-loopback listen (${listen.host}): AUTH is offered only over TLS there, ` +
          "so set smtpd.tls_cert and smtpd.tls_key (a password must not cross the network in clear)",
      );
    }
    const tls = tlsFiles ? { ...loadTls(tlsFiles), implicit: smtpd.secure } : undefined;
    if (smtpd.memory_limit < ctx.config.queue.max_size) {
      throw new ConfigError(
        `smtpd.memory_limit (${smtpd.memory_limit}) is below queue.max_size (${ctx.config.queue.max_size}): a message of the largest size could never be received`,
      );
    }
    const guard = new SmtpdGuard({
      maxPerClient: smtpd.max_clients_per_ip,
      clientRate: smtpd.client_rate === "" ? null : parseRate(smtpd.client_rate),
      memoryLimit: smtpd.memory_limit,
    });

    const queue = new Queue(ctx.config, ctx.logger);
    ctx.onClose(() => queue.close());
    try {
      await queue.connection();
    } catch (error) {
      // A database that is down now may be up by the first message (systemd starts us early):
      // serve anyway and answer 451 until it is. A wrong configuration is fatal.
      if (!(error instanceof TempFailError)) throw error;
      ctx.logger.warn("database unavailable; accepting connections and replying 451 until it is back", { error: error.message });
    }

    // Each commit waits (briefly) for the messages other sessions are sending: see GroupCommit.
    const target = queueTarget(queue, { underway: () => intake.underway() });
    const intake: Intake = createIntake({
      target, logger: ctx.logger, auth, allowFrom: smtpd.allow_from, tls, authBeforeTls: loopback,
      maxClients: smtpd.max_clients, idleTimeoutMs: smtpd.idle_timeout * 1000, guard,
      // Clients on this host are not spam bots: they are greeted at once.
      greetPauseMs: (smtpd.greet_pause ?? (loopback ? 0 : 0.1)) * 1000,
    });
    if (tlsFiles) ctx.onClose(watchTls(tlsFiles, (material) => intake.updateTls(material), ctx.logger));
    // The first SIGTERM/SIGINT stops gracefully, a second one exits at once (shared with send-mail).
    const stop = stopOnSignals(ctx.logger);
    ctx.onClose(() => stop.dispose());
    let bound;
    try {
      bound = await intake.listen(listen);
    } catch (error) {
      throw new ConfigError(`smtpd: cannot listen on ${listen.host}:${listen.port}: ${errorText(error)}`);
    }
    ctx.logger.info("smtpd listening", {
      address: `${bound.host}:${bound.port}`,
      port: bound.port,
      login_required: auth !== undefined,
      tls: tls === undefined ? "none" : tls.implicit ? "implicit" : "starttls",
      max_size: ctx.config.queue.max_size,
    });
    await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
    ctx.logger.info("smtpd stopping");
    await intake.close();
    ctx.logger.info("smtpd stopped");
    return 0;
  } finally {
    await ctx.close();
  }
}

/** Both files or neither; implicit TLS needs them. */
function tlsFilesOf(smtpd: Config["smtpd"]): TlsFiles | null {
  const { tls_cert: cert, tls_key: key } = smtpd;
  if ((cert === "") !== (key === "")) {
    throw new ConfigError(`smtpd.${cert === "" ? "tls_cert" : "tls_key"} is missing: set both smtpd.tls_cert and smtpd.tls_key, or neither`);
  }
  if (cert === "") {
    if (smtpd.secure) throw new ConfigError("smtpd.secure (implicit TLS) needs smtpd.tls_cert and smtpd.tls_key");
    return null;
  }
  return { cert, key };
}
