// A rate as operators write it in [limits]: "14/s", "20/m", "1000/h", "50000/d" (messages per unit).
export interface Rate {
  /** As written, normalised ("20/m"). */
  text: string;
  count: number;
  /** Seconds in the unit. */
  per: number;
  /** Messages per second. */
  perSecond: number;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

export const RATE_EXPECTED = 'a rate such as "14/s", "20/m", "1000/h" or "50000/d"';

/** null for text that is not a rate. */
export function parseRate(text: string): Rate | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$/i.exec(text);
  if (!match) return null;
  const count = Number(match[1]);
  const unit = match[2]!.toLowerCase()[0]!;
  if (!(count > 0) || !Number.isFinite(count)) return null;
  const per = UNITS[unit]!;
  return { text: `${count}/${unit}`, count, per, perSecond: count / per };
}
