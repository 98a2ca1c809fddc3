// One operation serving many concurrent callers: the first caller's run starts at once, and the
// callers that arrive while it runs are served together by the next one, which starts after all of
// them asked. So each caller is answered by a run that began after it asked (a reading as fresh as
// one of its own), and what is shared is the statement and its round trip or commit. A run that
// fails fails the callers it served, and no later one.
//
// A run may also wait to be wanted (`ready`, with ask() and need()): it begins once a caller it would
// serve needs its answer, or once `ready` says enough callers wait, so that more can join it.
//
// Used for the commit of concurrent submissions (group-commit.ts), smtpd's RCPT TO don't-send
// lookups (shared-lookup.ts) and the don't-send counter read before each send (dont-send-check.ts,
// which begins a reading when a send's text is due).

interface Waiting<In, Out> {
  input: In;
  resolve(output: Out): void;
  reject(error: unknown): void;
  /** Its caller needs the answer now (ask().need()). */
  needed?: boolean;
}

/** A caller's place in the next run (ask()). */
export interface Asked<Out> {
  answer: Promise<Out>;
  /** The answer is needed: the run that serves it begins if it has not. */
  need(): void;
}

export interface SharedRunsOptions<In> {
  /** Awaited before each run: a chance for more callers to join it (group-commit.ts). */
  gather?: () => Promise<void>;
  /** How many of the waiting inputs, oldest first, the next run takes (at least one); default all. */
  take?: (waiting: readonly In[]) => number;
  /** Given, a run waits to begin until this is true of the number waiting, or a caller needs its
   * answer (Asked.need); default: it begins at once. */
  ready?: (waiting: number) => boolean;
}

export class SharedRuns<In, Out> {
  readonly #run: (inputs: In[]) => Promise<Out[]>;
  readonly #gather: (() => Promise<void>) | undefined;
  readonly #take: ((waiting: readonly In[]) => number) | undefined;
  readonly #ready: ((waiting: number) => boolean) | undefined;
  #waiting: Waiting<In, Out>[] = [];
  #running = false;
  /** Lets a run that waits to be wanted begin. */
  #begin: (() => void) | null = null;

  /** `run` answers each input, in order. */
  constructor(run: (inputs: In[]) => Promise<Out[]>, options: SharedRunsOptions<In> = {}) {
    this.#run = run;
    this.#gather = options.gather;
    this.#take = options.take;
    this.#ready = options.ready;
  }

  /** How many callers wait for the next run. */
  get waiting(): number {
    return this.#waiting.length;
  }

  request(input: In): Promise<Out> {
    return this.ask(input).answer;
  }

  /** request(), with a handle to say when the answer is needed (see `ready`). */
  ask(input: In): Asked<Out> {
    let waiting!: Waiting<In, Out>;
    const answer = new Promise<Out>((resolve, reject) => {
      waiting = { input, resolve, reject };
      this.#waiting.push(waiting);
    });
    if (!this.#running) void this.#drain();
    else this.#nudge();
    return {
      answer,
      need: () => {
        // Taken by a run already (under way or over), it needs nothing more.
        if (!this.#waiting.includes(waiting)) return;
        waiting.needed = true;
        this.#nudge();
      },
    };
  }

  #mayBegin(): boolean {
    return !this.#ready || this.#ready(this.#waiting.length) || this.#waiting.some((w) => w.needed);
  }

  #nudge(): void {
    if (!this.#begin || !this.#mayBegin()) return;
    const begin = this.#begin;
    this.#begin = null;
    begin();
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        if (this.#gather) await this.#gather();
        if (!this.#mayBegin()) await new Promise<void>((resolve) => (this.#begin = resolve));
        const count = this.#take ? Math.max(1, this.#take(this.#waiting.map((w) => w.input))) : this.#waiting.length;
        const group = this.#waiting.splice(0, count);
        try {
          const outputs = await this.#run(group.map((w) => w.input));
          group.forEach((w, i) => w.resolve(outputs[i]!));
        } catch (error) {
          for (const w of group) w.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
