// django-mailer's priorities: 1 high, 2 medium (the default), 3 low.
import { DataError } from "../errors.ts";

export const PRIORITY = { high: 1, medium: 2, low: 3 } as const;
export type PriorityName = keyof typeof PRIORITY;
export type Priority = (typeof PRIORITY)[PriorityName];

export const priorityName = (p: number): PriorityName | "unknown" =>
  p === 1 ? "high" : p === 2 ? "medium" : p === 3 ? "low" : "unknown";

/** Accepts high|medium|low (any case) or 1|2|3. */
export function parsePriority(value: string | number, origin = "priority"): Priority {
  if (typeof value === "number" && (value === 1 || value === 2 || value === 3)) return value;
  const text = String(value).trim().toLowerCase();
  // Own keys only: `in` would also take "constructor" or "__proto__" from Object.prototype.
  if (Object.hasOwn(PRIORITY, text)) return PRIORITY[text as PriorityName];
  if (text === "1" || text === "2" || text === "3") return Number(text) as Priority;
  throw new DataError(`${origin}: expected high, medium or low, got ${JSON.stringify(String(value))}`);
}

/** nodemailer's own `priority` message field (high | normal | low), the weakest source of a priority. */
export function fromNodemailerPriority(value: unknown): Priority | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.trim().toLowerCase();
  return text === "high" ? PRIORITY.high : text === "normal" ? PRIORITY.medium : text === "low" ? PRIORITY.low : undefined;
}
