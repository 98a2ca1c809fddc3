import { MailerError, EXIT } from "../errors.ts";

export function notBuilt(name: string): never {
  throw new MailerError(`${name}: not yet built`, EXIT.software);
}
