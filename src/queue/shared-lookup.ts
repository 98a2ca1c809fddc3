// Don't-send lookups shared by concurrent SMTP sessions (smtpd's RCPT TO). Each RCPT is answered from
// a reading of the list made after it arrived, as when each had a statement of its own; what is shared
// is the statement: the RCPTs that arrive while one lookup runs are answered together by the next. On
// a server a lookup is a round trip, and with one per RCPT it was a quarter of smtpd's CPU per message.
export type Lookup = (addresses: string[]) => Promise<Set<string>>;

interface Waiting {
  addresses: string[];
  resolve(found: Set<string>): void;
  reject(error: unknown): void;
}

export class SharedLookup {
  #waiting: Waiting[] = [];
  #running = false;

  /** `lookup`: the lower-cased addresses among those given that are on the list. */
  constructor(private readonly lookup: Lookup) {}

  /** The lower-cased addresses among `addresses` that are on the list. */
  among(addresses: string[]): Promise<Set<string>> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ addresses, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        const group = this.#waiting;
        this.#waiting = [];
        try {
          const found = await this.lookup(group.flatMap((w) => w.addresses));
          for (const w of group) w.resolve(new Set(w.addresses.map((a) => a.toLowerCase()).filter((a) => found.has(a))));
        } catch (error) {
          for (const w of group) w.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
