// `sendmail -bs`: standard input and output as the one connected socket smtp-server expects.
import { Duplex, type Readable, type Writable } from "node:stream";

/** Standard input and output as the one connected socket smtp-server expects: a Duplex with the few
 * net.Socket members it uses (readyState, an idle setTimeout). QUIT ends the session (smtp-server ends
 * the stream); a client that closes its end without QUIT (`printf … | sendmail -bs`) has the commands
 * it sent answered first: the session ends once input is over and no command has been in progress
 * for a moment. */
export class StdioSocket extends Duplex {
  #idleTimer: ReturnType<typeof setTimeout> | null = null;
  #idle: { ms: number; onIdle: () => void } | null = null;

  /** Nothing is read before the greeting is out: smtp-server refuses a client that talks first, and
   * a piped dialogue is all there from the start. */
  #greeted = false;

  constructor(input: Readable, output: Writable, settled: () => boolean) {
    super({
      read: () => void (this.#greeted && input.resume()),
      write: (chunk, _encoding, done) => {
        output.write(chunk, done);
        if (!this.#greeted) {
          this.#greeted = true;
          input.resume();
        }
      },
      final: (done) => {
        done();
        this.destroy();
      },
      destroy: (error, done) => {
        if (this.#idleTimer) clearTimeout(this.#idleTimer);
        input.pause();
        done(error);
      },
    });
    input.pause();
    input.on("data", (chunk) => {
      this.#rearm();
      if (!this.push(chunk)) input.pause();
    });
    input.once("end", () => {
      this.push(null);
      // A message cut off by the end of input never completes: after a second the session ends all
      // the same (what was received whole is still queued: serveStdio waits for it).
      let quiet = 0;
      let ticks = 0;
      const timer = setInterval(() => {
        quiet = settled() ? quiet + 1 : 0;
        if (quiet >= 3 || ++ticks >= 10 || this.destroyed) {
          clearInterval(timer);
          this.destroy();
        }
      }, 100);
    });
  }

  get readyState(): string {
    return this.destroyed ? "closed" : "open";
  }

  /** net.Socket's idle timeout: `onIdle` once after `ms` without input. */
  setTimeout(ms: number, onIdle: () => void): this {
    this.#idle = { ms, onIdle };
    this.#rearm();
    return this;
  }

  #rearm(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    const idle = this.#idle;
    if (!idle || idle.ms <= 0) return;
    this.#idleTimer = setTimeout(() => {
      this.#idle = null;
      idle.onIdle();
    }, idle.ms);
    this.#idleTimer.unref?.();
  }
}
