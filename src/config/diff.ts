// What a reload changed, in words an operator can read in a log line — never a secret's value.
import { maskUrl } from "../db/db-url.ts";
import type { Config } from "./types.ts";

/** Keys whose values are never printed: only that they changed. */
const SECRET_KEY = /password/i;

function flatten(value: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

function show(path: string, value: unknown): string {
  if (path === "database.url" && typeof value === "string") return JSON.stringify(maskUrl(value));
  return value === null ? "(none)" : JSON.stringify(value);
}

/** One entry per changed key: `delivery.max_batch: 100 -> 5`, `backend.password (changed)`. */
export function configChanges(before: Config, after: Config): string[] {
  const a = flatten(before, "", new Map());
  const b = flatten(after, "", new Map());
  const changes: string[] = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const was = a.get(path);
    const now = b.get(path);
    if (JSON.stringify(was) === JSON.stringify(now)) continue;
    changes.push(SECRET_KEY.test(path) ? `${path} (changed)` : `${path}: ${show(path, was)} -> ${show(path, now)}`);
  }
  return changes;
}
