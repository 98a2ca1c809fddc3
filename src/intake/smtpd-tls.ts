// The certificate of `mailer smtpd` ([smtpd] tls_cert / tls_key): read and checked at start (a file
// that cannot be read, or a key that does not match its certificate, is a configuration error), and
// read again whenever either file changes, so a renewal (certbot, an ACME client replacing the files)
// takes effect for the next connection without a restart. A renewal that cannot be used is logged and
// the certificate in use is kept.
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { createSecureContext } from "node:tls";
import { ConfigError, errorText } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** How often the files are looked at: a stat each, cheap; renewals are rare and not urgent. */
const WATCH_INTERVAL_MS = 2_000;

/** Reads both files and proves they make a usable context; throws ConfigError saying which is wrong. */
export function loadTls(files: TlsFiles): TlsMaterial {
  const read = (key: "tls_cert" | "tls_key", path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError(`smtpd.${key}: cannot read ${path}: ${errorText(error)}`);
    }
  };
  const material = { cert: read("tls_cert", files.cert), key: read("tls_key", files.key) };
  try {
    createSecureContext(material);
  } catch (error) {
    throw new ConfigError(`smtpd.tls_cert / smtpd.tls_key (${files.cert}, ${files.key}) cannot be used: ${errorText(error)}`);
  }
  return material;
}

/** Calls `apply` with the new material whenever either file changes and the pair is usable. Returns
 * a function that stops watching. */
export function watchTls(files: TlsFiles, apply: (material: TlsMaterial) => void, logger: Logger): () => void {
  const changed = () => {
    try {
      apply(loadTls(files));
      logger.info("smtpd: TLS certificate reloaded", { cert: files.cert });
    } catch (error) {
      // Half of a renewal (the certificate written, the key not yet) lands here too: the next change
      // completes it.
      logger.error("smtpd: the changed TLS certificate cannot be used; keeping the one in use", { error: errorText(error) });
    }
  };
  for (const path of [files.cert, files.key]) watchFile(path, { interval: WATCH_INTERVAL_MS, persistent: false }, changed);
  return () => {
    for (const path of [files.cert, files.key]) unwatchFile(path, changed);
  };
}
