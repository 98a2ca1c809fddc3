// Don't-send lookups shared by concurrent SMTP sessions (smtpd's RCPT TO). Each RCPT is answered from
// a reading of the list made after it arrived, as when each had a statement of its own; what is shared
// is the statement (shared-runs.ts): the RCPTs that arrive while one lookup runs are answered together
// by the next. On a server a lookup is a round trip, and with one per RCPT it was a quarter of smtpd's
// CPU per message.
import { SharedRuns } from "./shared-runs.ts";

export type Lookup = (addresses: string[]) => Promise<Set<string>>;

export class SharedLookup {
  readonly #runs: SharedRuns<string[], Set<string>>;

  /** `lookup`: the lower-cased addresses among those given that are on the list. */
  constructor(lookup: Lookup) {
    this.#runs = new SharedRuns(async (lists) => {
      const found = await lookup(lists.flat());
      return lists.map((addresses) => new Set(addresses.map((a) => a.toLowerCase()).filter((a) => found.has(a))));
    });
  }

  /** The lower-cased addresses among `addresses` that are on the list. */
  among(addresses: string[]): Promise<Set<string>> {
    return this.#runs.request(addresses);
  }
}
