// A keyset cursor (browse.ts's MessageCursor) as the opaque text a "next page" link or the API's
// next_cursor carries: base64url JSON of the last row's sort key.
import type { MessageCursor, MessageOrder } from "../db/queries/browse.ts";

export const encodeCursor = (cursor: MessageCursor): string => Buffer.from(JSON.stringify(cursor)).toString("base64url");

/** The cursor in `text` for this order, or null when it is not one we made (or made for another order). */
export function decodeCursor(text: string, order: MessageOrder): MessageCursor | null {
  try {
    const value = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    if (!Number.isSafeInteger(value?.id)) return null;
    if (order !== "queue") return { id: value.id };
    if (!Number.isInteger(value.priority) || typeof value.when_added !== "string" || Number.isNaN(Date.parse(value.when_added))) return null;
    return { priority: value.priority, when_added: value.when_added, id: value.id };
  } catch {
    return null;
  }
}
