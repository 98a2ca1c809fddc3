// The shared limits as `status`, the console and the API report them: each configured limit with
// what it allows, where it stands now, and the rate it is really letting through (success log rows
// over the last minute, so it counts every worker on every host).
import { sql } from "kysely";
import type { Config } from "../config/types.ts";
import type { Database } from "../db/connect.ts";
import { dailyName, limitStates, slotsInUse } from "../db/queries/limits.ts";
import { FLEET_RATE, domainLimitName, limitPlan, planIsEmpty } from "../limits/gate.ts";

export interface LimitReport {
  /** "rate" (fleet-wide), "daily", or "domain:gmail.com". */
  name: string;
  /** The configured rate ("14/s"), or null. */
  rate: string | null;
  burst: number | null;
  /** Tokens in the bucket now (up to burst): 0 means the next message waits. */
  tokens: number | null;
  concurrency: number | null;
  /** SMTP transactions to the domain in flight now, over every worker. */
  in_flight: number | null;
  daily: number | null;
  /** Counted against the daily limit today (UTC). */
  used_today: number | null;
  /** Messages put back on the queue waiting for this limit. */
  waiting: number;
  /** Delivered in the last 60 s (every worker). */
  sent_last_minute: number;
}

const blank = (name: string): LimitReport => ({
  name, rate: null, burst: null, tokens: null, concurrency: null, in_flight: null, daily: null, used_today: null, waiting: 0, sent_last_minute: 0,
});

export async function limitsReport(db: Database, limits: Config["limits"], now: Date): Promise<LimitReport[]> {
  const plan = limitPlan(limits);
  // No limits, no statements: status, the dashboard and the API's /status ask on every request.
  if (planIsEmpty(plan)) return [];
  const reports: LimitReport[] = [];
  const states = new Map((await limitStates(db)).map((s) => [s.name, s]));
  const bucketTokens = (name: string, perSecond: number, burst: number) => {
    const s = states.get(name);
    return s === undefined ? burst : Math.min(burst, s.tokens + Math.max(0, s.age_s) * perSecond);
  };
  const minuteAgo = db.dialect.toDb(new Date(now.getTime() - 60_000));
  const sentSince = async (domain: string | null) => {
    let q = db.kysely
      .selectFrom("mailer_messagelog")
      .select(sql<number>`count(*)`.as("n"))
      .where("result", "=", "success")
      .where("when_attempted", ">=", minuteAgo);
    if (domain !== null) {
      // envelope_to is "a@x, b@y": the domain ends an address, before a comma or at the end. (A
      // domain name has no % and no _ that LIKE would take as wildcards.)
      const at = `%@${domain}`;
      q = q.where((eb) => eb.or([eb(sql`lower(envelope_to)`, "like", at), eb(sql`lower(envelope_to)`, "like", `${at},%`)]));
    }
    return Number((await q.executeTakeFirst())?.n ?? 0);
  };
  const waitingRows = await db.kysely
    .selectFrom("mailer_message")
    .select(["limited_by", sql<number>`count(*)`.as("n")])
    .where("status", "=", "queued")
    .where("limited_by", "is not", null)
    .where("next_attempt_at", ">", db.dialect.toDb(now))
    .groupBy("limited_by")
    .execute();
  const waiting = new Map(waitingRows.map((r) => [r.limited_by!, Number(r.n)]));
  const inFlight = await slotsInUse(db, now);

  if (plan.rate) {
    reports.push({
      ...blank(FLEET_RATE), rate: plan.rate.text, burst: plan.burst,
      tokens: round(bucketTokens(FLEET_RATE, plan.rate.perSecond, plan.burst)), sent_last_minute: await sentSince(null),
    });
  }
  if (plan.daily !== null) {
    reports.push({ ...blank("daily"), daily: plan.daily, used_today: states.get(dailyName(now))?.tokens ?? 0 });
  }
  // Named domains, then every other domain a "*" limit has met (it has a bucket or slots).
  const domains = new Map([...plan.domains].map(([domain, limit]) => [domain, limit]));
  if (plan.otherDomains) {
    const seen = [...states.keys(), ...inFlight.keys(), ...waiting.keys()].filter((n) => n.startsWith("domain:")).map((n) => n.slice(7));
    for (const domain of seen) if (!domains.has(domain)) domains.set(domain, plan.otherDomains);
  }
  for (const [domain, limit] of domains) {
    const name = domainLimitName(domain);
    reports.push({
      ...blank(name),
      rate: limit.rate?.text ?? null,
      burst: limit.rate ? limit.burst : null,
      tokens: limit.rate ? round(bucketTokens(name, limit.rate.perSecond, limit.burst)) : null,
      concurrency: limit.concurrency,
      in_flight: limit.concurrency === null ? null : (inFlight.get(name) ?? 0),
      waiting: waiting.get(name) ?? 0,
      sent_last_minute: await sentSince(domain),
    });
  }
  return reports;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** A limit in words, for the terminal and the console: what it allows and where it stands now. */
export function describeLimit(l: LimitReport): { allows: string; now: string } {
  const words = (parts: Array<string | false | null>) => parts.filter(Boolean).join(", ");
  return {
    allows: words([l.rate && `${l.rate} (burst ${l.burst})`, l.concurrency !== null && `${l.concurrency} at once`, l.daily !== null && `${l.daily} a day`]),
    now: words([l.tokens !== null && `${l.tokens} tokens`, l.in_flight !== null && `${l.in_flight} in flight`, l.used_today !== null && `${l.used_today} today`]),
  };
}
