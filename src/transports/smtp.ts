// SMTP through nodemailer's connection pool. Connections stay open for the whole pass (maxMessages
// = Infinity): recycling them every 100 messages costs about 4x throughput (SPEC §1). The engine
// keeps at most `pool` sends in flight, so nodemailer's own queue stays empty.
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { fromNodemailer } from "./nodemailer-adapter.ts";
import { nodemailerLogger } from "./nodemailer-log.ts";
import type { Transport } from "./types.ts";

export async function smtpTransport(config: Config, logger: Logger): Promise<Transport> {
  const nodemailer = await import("nodemailer");
  const b = config.backend;
  const ms = Math.round(b.timeout * 1000);
  const transporter = nodemailer.createTransport({
    pool: true,
    host: b.host,
    port: b.port,
    secure: b.secure,
    auth: b.user ? { user: b.user, pass: b.password } : undefined,
    maxConnections: b.pool,
    maxMessages: Infinity,
    connectionTimeout: ms,
    greetingTimeout: ms,
    socketTimeout: ms,
    tls: { rejectUnauthorized: b.tls_verify },
    // Routed into our logger at debug; the transport is built per pass, so a reloaded level applies.
    // Below debug nothing is handed over at all: formatting lines nobody reads costs throughput.
    logger: logger.level === "debug" ? (nodemailerLogger(logger) as never) : false,
    debug: logger.level === "debug",
  });
  logger.debug("smtp transport ready", { host: b.host, port: b.port, pool: b.pool });
  return fromNodemailer("smtp", transporter as never);
}
