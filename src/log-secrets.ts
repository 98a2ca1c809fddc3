// What the logger scrubs from every line: the configured secrets as configSecrets lists them (raw
// and JSON-escaped), plus the base64 forms an SMTP AUTH exchange would carry them in. nodemailer
// already masks its own AUTH lines; this is the second fence, for a transport module or a server
// reply that quotes a credential.
import type { Config } from "./config/types.ts";
import { configSecrets } from "./ops/format.ts";

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

export function logSecrets(config: Config): string[] {
  const forms = configSecrets(config);
  for (const { user, password } of [config.backend, config.smtpd, config.web]) {
    if (password.length < 4) continue;
    // AUTH LOGIN sends the password alone; AUTH PLAIN sends "\0user\0password" (RFC 4616).
    forms.push(b64(password), b64(`\0${user}\0${password}`), b64(`${user}\0${user}\0${password}`));
  }
  // Longest first: a secret that contains another is masked whole, not half.
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}
