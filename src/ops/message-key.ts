// How the operator commands name one queued message: a queue id ("42") or a Message-ID, with or
// without its angle brackets (`show`, `retry-failed`).

/** A queue id, or the Message-ID as stored either way (with and without brackets). */
export type MessageKey = { id: number } | { messageIds: string[] };

/** One argument, already trimmed and not empty. */
export function parseMessageKey(text: string): MessageKey {
  if (/^\d+$/.test(text)) return { id: Number(text) };
  const bare = text.replace(/^<|>$/g, "");
  return { messageIds: [`<${bare}>`, bare] };
}
