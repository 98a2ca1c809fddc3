// The shared limits of [limits], asked before each message is handed to the transport: a fleet-wide
// token bucket (rate, burst), a daily quota, and per recipient domain a token bucket and a number of
// concurrency slots. Their state is in the database (db/queries/limits.ts), so the sum over every
// worker process on every host holds the limit.
//
// A message is never deferred by a limit, and no retry is counted. The fleet-wide rate holds every
// message alike, so the pass waits for it (as it sleeps for throttle). A domain's limit must not
// hold up other domains: its message is put back on the queue until the limit allows it
// (next_attempt_at, with limited_by naming the limit), and the pass goes on with the rest.
import type { Config } from "../config/types.ts";
import { classifyDatabaseError, type Database } from "../db/connect.ts";
import {
  acquireSlot,
  countDaily,
  dailyName,
  ensureBucket,
  ensureSlots,
  refundToken,
  releaseSlot,
  takeToken,
  uncountDaily,
} from "../db/queries/limits.ts";
import { errorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseRate, type Rate } from "./rate.ts";

export interface DomainLimit {
  rate: Rate | null;
  burst: number;
  concurrency: number | null;
}

export interface LimitPlan {
  rate: Rate | null;
  burst: number;
  daily: number | null;
  /** Named domains, lower case. */
  domains: Map<string, DomainLimit>;
  /** "*": every other domain, each with limits of its own. */
  otherDomains: DomainLimit | null;
}

export function limitPlan(limits: Config["limits"]): LimitPlan {
  const domain = (d: { rate: string; burst: number; concurrency: number | null }): DomainLimit => ({
    rate: d.rate ? parseRate(d.rate) : null,
    burst: d.burst,
    concurrency: d.concurrency,
  });
  const domains = new Map(Object.entries(limits.domains).filter(([name]) => name !== "*").map(([name, d]) => [name, domain(d)]));
  const other = limits.domains["*"];
  return {
    rate: limits.rate ? parseRate(limits.rate) : null,
    burst: limits.burst,
    daily: limits.daily,
    domains,
    otherDomains: other ? domain(other) : null,
  };
}

export const planIsEmpty = (p: LimitPlan) => !p.rate && p.daily === null && p.domains.size === 0 && !p.otherDomains;

/** The bucket (and slot) name of a domain's limit. */
export const domainLimitName = (domain: string) => `domain:${domain}`;
export const FLEET_RATE = "rate";

export type Admission =
  /** release() frees its slots once its send has settled; it never fails (a lost release frees
   * itself when the slot's lease runs out). */
  | { kind: "go"; release(): Promise<void> }
  /** The fleet-wide rate: wait `ms`, then ask again. */
  | { kind: "wait"; ms: number }
  /** This domain's concurrency is used up by this very worker: ask again when one of its sends ends. */
  | { kind: "own-slot"; limit: string }
  /** A domain's limit: put the message back until `until`. */
  | { kind: "hold"; until: Date; limit: string }
  /** The daily quota is used up. */
  | { kind: "daily"; limit: number };

/** How long a message waits when another worker holds every slot of its domain: the length of a
 * typical SMTP transaction, so the slot is likely free by then. */
const SLOT_RETRY_MS = 250;

export class LimitGate {
  readonly #db: Database;
  readonly #plan: LimitPlan;
  readonly #worker: string;
  readonly #leaseMs: number;
  readonly #clock: () => Date;
  readonly #logger: Logger;
  readonly #ensured = new Set<string>();
  /** Slots this worker holds now, by limit name. */
  readonly #ownSlots = new Map<string, number>();
  /** Messages held for each domain's rate since it last gave a token: each later one is held one
   * token's time longer, so they come back spread out rather than all at once. */
  readonly #heldSince = new Map<string, number>();

  constructor(db: Database, plan: LimitPlan, options: { worker: string; leaseMs: number; clock: () => Date; logger: Logger }) {
    this.#db = db;
    this.#plan = plan;
    this.#worker = options.worker;
    this.#leaseMs = options.leaseMs;
    this.#clock = options.clock;
    this.#logger = options.logger;
  }

  /** The limits of each recipient domain that has any. */
  #domainLimits(recipients: string[]): Array<[name: string, limit: DomainLimit]> {
    const out = new Map<string, DomainLimit>();
    for (const address of recipients) {
      const domain = address.slice(address.lastIndexOf("@") + 1).toLowerCase();
      const limit = this.#plan.domains.get(domain) ?? this.#plan.otherDomains;
      if (limit) out.set(domainLimitName(domain), limit);
    }
    return [...out];
  }

  async #bucket(name: string, rate: Rate, burst: number) {
    for (;;) {
      if (!this.#ensured.has(name)) {
        await ensureBucket(this.#db, name, burst);
        this.#ensured.add(name);
      }
      const result = await takeToken(this.#db, name, rate.perSecond, burst);
      if (result) return result;
      this.#ensured.delete(name); // removed meanwhile (a reset): create it again
    }
  }

  /** May this message (to these recipients, the don't-send list applied) go now? On "go" it holds
   * the slots it took until release() is called, once its send has settled. */
  async admit(recipients: string[]): Promise<Admission> {
    try {
      return await this.#admit(recipients);
    } catch (error) {
      // As for any statement of a pass: a database that is down is "try again", not a bug.
      throw classifyDatabaseError(error, this.#db.displayUrl) ?? error;
    }
  }

  async #admit(recipients: string[]): Promise<Admission> {
    const db = this.#db;
    const plan = this.#plan;
    const domains = this.#domainLimits(recipients);
    const now = this.#clock();
    const slots: Array<[name: string, slot: number]> = [];
    const refunds: Array<() => Promise<void>> = [];
    const undo = async () => {
      for (const refund of refunds) await refund();
      await this.#releaseSlots(slots);
    };
    try {
      for (const [name, limit] of domains) {
        if (limit.concurrency === null) continue;
        if (!this.#ensured.has(`slots:${name}:${limit.concurrency}`)) {
          await ensureSlots(db, name, limit.concurrency);
          this.#ensured.add(`slots:${name}:${limit.concurrency}`);
        }
        const slot = await acquireSlot(db, name, limit.concurrency, this.#worker, now, new Date(now.getTime() + this.#leaseMs));
        if (slot === null) {
          await undo();
          return (this.#ownSlots.get(name) ?? 0) > 0
            ? { kind: "own-slot", limit: name }
            : { kind: "hold", until: new Date(now.getTime() + SLOT_RETRY_MS), limit: name };
        }
        slots.push([name, slot]);
        this.#ownSlots.set(name, (this.#ownSlots.get(name) ?? 0) + 1);
      }
      if (plan.rate) {
        const token = await this.#bucket(FLEET_RATE, plan.rate, plan.burst);
        if (!token.granted) {
          await undo();
          return { kind: "wait", ms: token.waitMs };
        }
        refunds.push(() => refundToken(db, FLEET_RATE, plan.burst));
      }
      for (const [name, limit] of domains) {
        if (!limit.rate) continue;
        const token = await this.#bucket(name, limit.rate, limit.burst);
        if (!token.granted) {
          await undo();
          const held = this.#heldSince.get(name) ?? 0;
          this.#heldSince.set(name, held + 1);
          const spread = (held * 1000) / limit.rate.perSecond;
          return { kind: "hold", until: new Date(now.getTime() + token.waitMs + spread), limit: name };
        }
        this.#heldSince.delete(name);
        refunds.push(() => refundToken(db, name, limit.burst));
      }
      if (plan.daily !== null) {
        const day = dailyName(now);
        if (!(await countDaily(db, day, plan.daily))) {
          await undo();
          return { kind: "daily", limit: plan.daily };
        }
        refunds.push(() => uncountDaily(db, day));
      }
    } catch (error) {
      await undo().catch(() => {});
      throw error;
    }
    return { kind: "go", release: () => this.#releaseSlots(slots) };
  }

  /** Empties `slots`, so a second call releases nothing. */
  async #releaseSlots(slots: Array<[name: string, slot: number]>): Promise<void> {
    for (const [name, slot] of slots.splice(0)) {
      try {
        await releaseSlot(this.#db, name, slot, this.#worker);
      } catch (error) {
        this.#logger.warn(`could not release a ${name} concurrency slot (it frees itself when its lease ends): ${errorText(error)}`);
      } finally {
        this.#ownSlots.set(name, (this.#ownSlots.get(name) ?? 1) - 1);
      }
    }
  }
}
