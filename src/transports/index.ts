// Builds the transport named by [backend] type. Each backend's module (and nodemailer) is loaded
// only here, when the first message of a pass needs it, so a pass over an empty queue starts fast.
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Transport } from "./types.ts";

export type { Transport, OutgoingMessage, SendResult, Envelope } from "./types.ts";

export async function createTransport(config: Config, logger: Logger): Promise<Transport> {
  switch (config.backend.type) {
    case "smtp":
      return (await import("./smtp.ts")).smtpTransport(config, logger);
    case "sendmail":
      return (await import("./sendmail.ts")).sendmailTransport(config);
    case "console":
      return (await import("./console.ts")).consoleTransport();
    case "file":
      return (await import("./file.ts")).fileTransport(config.backend.dir);
    case "null":
      return (await import("./null.ts")).nullTransport();
    case "module":
      return (await import("./module.ts")).moduleTransport(config, logger);
  }
}
