// When a message may go and until when it is worth sending, and the key that makes an enqueue
// idempotent: the same three options on every enqueue path (library sendAt / expiresAt /
// idempotencyKey, `mailer queue --send-at …`, the X-Mailer-* headers, the API's fields).
import { DataError } from "../errors.ts";

export const SEND_AT_HEADER = "X-Mailer-Send-At";
export const EXPIRES_AT_HEADER = "X-Mailer-Expires-At";
export const IDEMPOTENCY_KEY_HEADER = "X-Mailer-Idempotency-Key";

export interface Schedule {
  /** Not sent before this time. */
  sendAt?: Date;
  /** Not sent after this time: dropped and logged `expired`. */
  expiresAt?: Date;
  /** A second enqueue with this key within [queue] idempotency_window queues nothing. */
  idempotencyKey?: string;
}

/** What a caller may pass: a Date, ISO 8601 text with a zone, or "+10m" from now. */
export type When = Date | string;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** ISO 8601 with a time zone ("2026-12-24T18:00:00Z", "…+01:00"), or a delay from now ("+90s",
 * "+10m", "+2h", "+1d", "+1h30m"). A local time without a zone is refused: which zone the writer
 * meant depends on the machine, and a queue must not guess. */
export function parseWhen(value: When, origin: string, now: Date = new Date()): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new DataError(`${origin}: not a valid date`);
    return value;
  }
  const text = String(value).trim();
  if (text.startsWith("+")) {
    const rest = text.slice(1);
    if (/^(\d+(\.\d+)?[smhd])+$/i.test(rest)) {
      let ms = 0;
      for (const [, n, unit] of rest.matchAll(/(\d+(?:\.\d+)?)([smhd])/gi)) ms += Number(n) * UNIT_MS[unit!.toLowerCase()]!;
      return new Date(now.getTime() + ms);
    }
  } else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(text)) {
    const date = new Date(text.replace(" ", "T"));
    if (!Number.isNaN(date.getTime())) return date;
  } else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(text)) {
    throw new DataError(`${origin}: ${JSON.stringify(text.slice(0, 64))} has no time zone; add Z or an offset such as +01:00`);
  }
  throw new DataError(
    `${origin}: expected ISO 8601 with a time zone (2026-12-24T18:00:00Z) or a delay such as +10m, got ${JSON.stringify(text.slice(0, 64))}`,
  );
}

/** A key is printable text of 1 to 200 characters (it is stored and shown). */
export function checkIdempotencyKey(value: unknown, origin: string): string {
  if (typeof value !== "string") throw new DataError(`${origin}: expected text`);
  const key = value.trim();
  if (key === "" || key.length > 200 || /[\u0000-\u001f\u007f]/.test(key)) {
    throw new DataError(`${origin}: expected 1 to 200 printable characters, got ${JSON.stringify(value.slice(0, 64))}`);
  }
  return key;
}

/** What a caller may write: sendAt / expiresAt as a Date, ISO text or "+10m", and idempotencyKey. */
export interface ScheduleInput {
  sendAt?: When;
  expiresAt?: When;
  idempotencyKey?: string;
}

/** What each path calls the three options, for its error messages. */
export type ScheduleNames = Record<keyof ScheduleInput, string>;
export const LIBRARY_NAMES: ScheduleNames = { sendAt: "sendAt", expiresAt: "expiresAt", idempotencyKey: "idempotencyKey" };
export const HEADER_NAMES: ScheduleNames = { sendAt: SEND_AT_HEADER, expiresAt: EXPIRES_AT_HEADER, idempotencyKey: IDEMPOTENCY_KEY_HEADER };

/** The options as a path gives them (library fields, a nodemailer message's extra fields, flags,
 * headers, the API's JSON), parsed; absent ones (undefined or null) stay absent. */
export function scheduleFrom(input: ScheduleInput, names: ScheduleNames = LIBRARY_NAMES, now: Date = new Date()): Schedule {
  const schedule: Schedule = {};
  if (input.sendAt !== undefined && input.sendAt !== null) schedule.sendAt = parseWhen(input.sendAt, names.sendAt, now);
  if (input.expiresAt !== undefined && input.expiresAt !== null) schedule.expiresAt = parseWhen(input.expiresAt, names.expiresAt, now);
  if (input.idempotencyKey !== undefined && input.idempotencyKey !== null) {
    schedule.idempotencyKey = checkIdempotencyKey(input.idempotencyKey, names.idempotencyKey);
  }
  return schedule;
}

/** The three options checked against each other and the clock. */
export function checkSchedule(schedule: Schedule, now: Date = new Date()): Schedule {
  const { sendAt, expiresAt } = schedule;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new DataError(`expires-at ${expiresAt.toISOString()} has passed already; nothing to queue`);
  }
  if (sendAt && expiresAt && expiresAt.getTime() <= sendAt.getTime()) {
    throw new DataError(`expires-at ${expiresAt.toISOString()} is not after send-at ${sendAt.toISOString()}`);
  }
  return schedule;
}
