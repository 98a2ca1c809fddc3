// Text written during one turn of the event loop, handed on in one piece when the turn ends.
//
// Why: a draining worker logs a line per message, thousands a second. Written one by one, each line
// was a system call, and where standard error is a pipe (systemd's journal, a shell's `|`, a test
// harness) each also woke the reader: about a tenth of a 40,000-message drain's main-thread time.
// Joined per turn they cost one write for every few dozen lines.
//
// What is kept: order (one queue for every writer of the stream), every byte (flushed at the end of
// the turn, as soon as MAX_WAITING characters wait, and at exit: the 'exit' event runs after
// process.exit(), an uncaught error and an unhandled rejection alike). What is given up: a process
// killed outright (SIGKILL, or a signal it has no handler for) loses the lines of its last turn.
// The global setImmediate, as group-commit.ts uses it: importing node:timers would add to every start-up.

/** Enough to bound the memory a long synchronous stretch of logging holds; far more than a turn's worth. */
export const MAX_WAITING = 64 * 1024;

export class TurnBuffer {
  readonly #write: (text: string) => void;
  #waiting: string[] = [];
  #size = 0;
  #scheduled = false;
  #exitHooked = false;

  /** `write` takes the joined text; it is called synchronously, at most once per turn unless
   * MAX_WAITING is reached. */
  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  add(text: string): void {
    this.#waiting.push(text);
    this.#size += text.length;
    if (this.#size >= MAX_WAITING) {
      this.flush();
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
    if (!this.#exitHooked) {
      this.#exitHooked = true;
      process.on("exit", () => this.flush());
    }
  }

  /** Writes whatever waits, now (a caller about to write past the buffer, or to exit, asks first). */
  flush(): void {
    if (this.#waiting.length === 0) return;
    const text = this.#waiting.length === 1 ? this.#waiting[0]! : this.#waiting.join("");
    this.#waiting = [];
    this.#size = 0;
    this.#write(text);
  }
}
