// One operation serving many concurrent callers: the first caller's run starts at once, and the
// callers that arrive while it runs are served together by the next one, which starts after all of
// them asked. So each caller is answered by a run that began after it asked (a reading as fresh as
// one of its own), and what is shared is the statement and its round trip or commit. A run that
// fails fails the callers it served, and no later one.
//
// Used for the commit of concurrent submissions (group-commit.ts), smtpd's RCPT TO don't-send
// lookups (shared-lookup.ts) and the don't-send counter read before each send (dont-send-check.ts,
// whose gather holds a reading back until a send needs it).

interface Waiting<In, Out> {
  input: In;
  resolve(output: Out): void;
  reject(error: unknown): void;
}

export interface SharedRunsOptions<In> {
  /** Awaited before each run: a chance for more callers to join it (group-commit.ts). */
  gather?: () => Promise<void>;
  /** How many of the waiting inputs, oldest first, the next run takes (at least one); default all. */
  take?: (waiting: readonly In[]) => number;
}

export class SharedRuns<In, Out> {
  readonly #run: (inputs: In[]) => Promise<Out[]>;
  readonly #gather: (() => Promise<void>) | undefined;
  readonly #take: ((waiting: readonly In[]) => number) | undefined;
  #waiting: Waiting<In, Out>[] = [];
  #running = false;

  /** `run` answers each input, in order. */
  constructor(run: (inputs: In[]) => Promise<Out[]>, options: SharedRunsOptions<In> = {}) {
    this.#run = run;
    this.#gather = options.gather;
    this.#take = options.take;
  }

  /** How many callers wait for the next run. */
  get waiting(): number {
    return this.#waiting.length;
  }

  request(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        if (this.#gather) await this.#gather();
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
