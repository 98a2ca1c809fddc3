// What keeps `mailer smtpd` serving under load and abuse ([smtpd] max_clients, max_clients_per_ip,
// client_rate, memory_limit). smtp-server itself caps the connections (maxClients) and drops idle
// ones (socketTimeout); this module adds what it lacks:
// - connections per client address, so one noisy host cannot take every slot;
// - a message rate per client address (a token bucket each, in memory: smtpd is one process);
// - a budget for message bytes held in memory at once. A message is buffered while it arrives (the
//   queue stores whole messages); each chunk is taken from the budget, and a message that finds it
//   spent is read to its end but not kept, and answered 452 4.3.1 (try again later). No client
//   waits for another to finish, so slow ones cannot starve the rest, and memory stays bounded
//   whatever the number of clients: memory_limit plus what each connection costs by itself.
import type { Rate } from "../limits/rate.ts";

export interface GuardOptions {
  /** 0 = no limit. */
  maxPerClient: number;
  clientRate: Rate | null;
  /** Bytes of message data held at once, across all connections. */
  memoryLimit: number;
  now?: () => number;
}

export class SmtpdGuard {
  readonly #options: GuardOptions;
  readonly #connections = new Map<string, number>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #held = 0;

  constructor(options: GuardOptions) {
    this.#options = options;
  }

  /** Bytes of message data held right now (for tests and status). */
  get held(): number {
    return this.#held;
  }

  /** A new connection from `address`: false when it already has its share (the caller replies 421). */
  connect(address: string): boolean {
    const open = this.#connections.get(address) ?? 0;
    if (this.#options.maxPerClient > 0 && open >= this.#options.maxPerClient) return false;
    this.#connections.set(address, open + 1);
    return true;
  }

  disconnect(address: string): void {
    const open = (this.#connections.get(address) ?? 1) - 1;
    if (open > 0) this.#connections.set(address, open);
    else this.#connections.delete(address);
  }

  /** One message from `address` may start: false when its rate is used up (the caller replies 450). */
  takeMessage(address: string): boolean {
    const rate = this.#options.clientRate;
    if (!rate) return true;
    const now = (this.#options.now ?? Date.now)() / 1000;
    const burst = Math.max(1, rate.count);
    const bucket = this.#buckets.get(address) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * rate.perSecond);
    bucket.at = now;
    this.#buckets.set(address, bucket);
    if (this.#buckets.size > 10_000) this.#forgetFull(now, burst);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Takes `bytes` from the budget: false (nothing taken) when it would go over. */
  hold(bytes: number): boolean {
    if (this.#held + bytes > this.#options.memoryLimit) return false;
    this.#held += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
  }

  /** Buckets that have refilled are the same as no bucket: forget them, so memory stays bounded. */
  #forgetFull(now: number, burst: number): void {
    const rate = this.#options.clientRate!;
    for (const [address, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * rate.perSecond >= burst) this.#buckets.delete(address);
    }
  }
}
