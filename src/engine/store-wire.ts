// What crosses between the pass and its database worker (offthread-store.ts): rows and records with
// their message texts moved into one buffer that postMessage hands over without copying it again,
// and errors with the properties (code, errno, severity) that tell "database unavailable" apart.
import type { BatchRecord, ClaimedRow } from "../db/queries/claims.ts";

/** A Uint8Array field replaced by its [offset, length] in the batch's buffer. */
type Span = [number, number];

export interface Packed<T> {
  items: T[];
  blob: ArrayBuffer;
}

function pack<T extends object>(items: readonly T[], field: keyof T): Packed<T> {
  let size = 0;
  for (const item of items) {
    const value = item[field];
    if (value instanceof Uint8Array) size += value.byteLength;
  }
  const blob = new Uint8Array(size);
  let offset = 0;
  const packed = items.map((item) => {
    const value = item[field];
    if (!(value instanceof Uint8Array)) return item;
    blob.set(value, offset);
    const span: Span = [offset, value.byteLength];
    offset += value.byteLength;
    return { ...item, [field]: span };
  });
  return { items: packed, blob: blob.buffer };
}

function unpack<T extends object>(items: T[], blob: ArrayBuffer, field: keyof T): T[] {
  const bytes = new Uint8Array(blob);
  for (const item of items) {
    const span = item[field] as unknown;
    if (Array.isArray(span)) (item as Record<keyof T, unknown>)[field] = bytes.subarray(span[0], span[0] + span[1]);
  }
  return items;
}

export const packRows = (rows: readonly ClaimedRow[]) => pack(rows, "message_data");
export const unpackRows = (packed: Packed<ClaimedRow>) => unpack(packed.items, packed.blob, "message_data");

export interface PackedRecord {
  record: BatchRecord;
  logs: ArrayBuffer;
  changes: ArrayBuffer;
}

export function packRecord(record: BatchRecord): PackedRecord {
  const logs = pack(record.logs, "message_data");
  const changes = pack(record.change, "message_data");
  return { record: { ...record, logs: logs.items, change: changes.items }, logs: logs.blob, changes: changes.blob };
}

export function unpackRecord({ record, logs, changes }: PackedRecord): BatchRecord {
  unpack(record.logs, logs, "message_data");
  unpack(record.change, changes, "message_data");
  return record;
}

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, string | number | boolean | null>;
}

export function errorToWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), props: {} };
  const props: WireError["props"] = {};
  for (const [key, value] of Object.entries(error)) {
    if (value === null || ["string", "number", "boolean"].includes(typeof value)) props[key] = value as WireError["props"][string];
  }
  return { name: error.name, message: error.message, stack: error.stack, props };
}

export function errorFromWire(wire: WireError): Error {
  const error = Object.assign(new Error(wire.message), wire.props);
  error.name = wire.name;
  if (wire.stack) error.stack = wire.stack;
  return error;
}
