// A promise-like whose work starts the first time somebody waits on it (then, await, or now()), and
// runs once. The send-time don't-send check is asked for as a send starts, but its reading is wanted
// only when the send's text is about to go: started on demand, it can be shared with the sends that
// started meanwhile (dont-send-check.ts).

export class OnDemand<T> implements PromiseLike<T> {
  readonly #start: () => Promise<T>;
  #started: Promise<T> | undefined;

  constructor(start: () => Promise<T>) {
    this.#start = start;
  }

  /** Starts the work if it has not started, and returns its promise. Awaiting that native promise
   * rather than this object saves the turns of adopting a foreign then() (the order in which a
   * pass's sends settle follows from them). */
  now(): Promise<T> {
    return (this.#started ??= this.#start());
  }

  then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.now().then(onFulfilled, onRejected);
  }
}

/** An answer that is either under way (a promise) or started when first awaited. */
export type Answer<T> = Promise<T> | OnDemand<T>;

/** Its promise, starting it if it is on demand. */
export const started = <T>(answer: Answer<T>): Promise<T> => (answer instanceof OnDemand ? answer.now() : answer);

/** `answer` carried on by then(): on demand if it was (nothing starts it early), else at once. */
export function thenOf<T, U>(answer: Answer<T>, onFulfilled: (value: T) => U | PromiseLike<U>, onRejected?: (reason: unknown) => U | PromiseLike<U>): Answer<U> {
  return answer instanceof OnDemand ? new OnDemand(() => answer.now().then(onFulfilled, onRejected)) : answer.then(onFulfilled, onRejected);
}
