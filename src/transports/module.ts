// backend.type = "module": a user .ts/.js file whose default export builds the transport. It runs
// inside the compiled binary, where a bare `import "nodemailer"` in the user's file cannot resolve,
// so the factory is handed everything it needs: the config, a logger and the nodemailer module.
import { basename } from "node:path";
import type { Config } from "../config/types.ts";
import { ConfigError, errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { fromNodemailer, normaliseResult, type NodemailerLike } from "./nodemailer-adapter.ts";
import type { OutgoingMessage, Transport } from "./types.ts";

export interface TransportFactoryArgs {
  config: Config;
  logger: Logger;
  nodemailer: typeof import("nodemailer");
}

/** What a factory may return: a nodemailer transporter, or an object with send() (our Transport shape). */
type Built = NodemailerLike | { send(message: OutgoingMessage): unknown; close?(): unknown };

export async function moduleTransport(config: Config, logger: Logger): Promise<Transport> {
  const path = config.backend.module!;
  let factory: unknown;
  try {
    const mod = (await import(path)) as { default?: unknown; createTransport?: unknown };
    factory = mod.default ?? mod.createTransport;
  } catch (error) {
    throw new ConfigError(`backend.module: cannot load ${path}: ${errorText(error)}`);
  }
  if (typeof factory !== "function") {
    throw new ConfigError(`backend.module: ${path} must export a transport factory function as its default export`);
  }
  const nodemailer = await import("nodemailer");
  let built: Built;
  try {
    built = (await factory({ config, logger: logger.child({ transport: basename(path) }), nodemailer })) as Built;
  } catch (error) {
    throw new ConfigError(`backend.module: the factory in ${path} threw: ${errorText(error)}`);
  }
  const name = `module:${basename(path)}`;
  if (built && typeof (built as NodemailerLike).sendMail === "function") return fromNodemailer(name, built as NodemailerLike);
  if (built && typeof (built as { send?: unknown }).send === "function") {
    const custom = built as { send(message: OutgoingMessage): unknown; close?(): unknown };
    return {
      name,
      async send(message) {
        return normaliseResult(message, (await custom.send(message)) as never);
      },
      async close() {
        await custom.close?.();
      },
    };
  }
  throw new ConfigError(`backend.module: the factory in ${path} returned neither a nodemailer transporter nor an object with send()`);
}
