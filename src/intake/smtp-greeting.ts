// The pause before an SMTP greeting. smtp-server waits a fixed 100 ms before every 220, to catch spam
// bots that talk before they are greeted. A local submission intake has no use for it: it caps a
// client that opens a connection per message (Django's send_mail, PHPMailer) at about ten messages a
// second per connection, and costs every `sendmail -bs` 100 ms. Here the pause is a per-server
// option: SMTPConnection#init is replaced, once, by one that waits the server's pause (none for 0),
// doing what the original does around its timer (the maxClients check); a server without the option
// keeps the original. smtp-server is pinned; test/e2e/smtpd-load.test.ts checks both ways.
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";

const OPTION = "mailerGreetPauseMs";

/** smtp-server options that make it wait `ms` before greeting (0: greet at once). */
export function greetPause(ms: number): {} {
  return { [OPTION]: ms };
}

interface Connection {
  _server: { options: Record<string, unknown>; connections: Set<unknown> };
  _setListeners(done: () => void): void;
  connectionReady(): void;
  send(code: number, text: string, end?: boolean): void;
  name: string;
}

const originalInit = SMTPConnection.prototype.init;
if (typeof originalInit === "function" && !(originalInit as { patched?: boolean }).patched) {
  const init = function (this: Connection) {
    const pause = this._server.options[OPTION];
    if (typeof pause !== "number" || typeof this._setListeners !== "function" || typeof this.connectionReady !== "function") {
      return originalInit.call(this);
    }
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (typeof max === "number" && max > 0 && this._server.connections.size > max) {
        return this.send(421, this.name + " Too many connected clients, try again in a moment", false);
      }
      if (pause <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), pause).unref();
    });
  };
  SMTPConnection.prototype.init = Object.assign(init, { patched: true }) as typeof originalInit;
}
