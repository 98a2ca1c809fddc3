// `mailer list`: the queue rows an operator asks about, as a table sized to the terminal or as JSON.
import { fromDbTime } from "../db/dialect.ts";
import type { MessageListRow } from "../db/queries/inspect.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import { priorityName } from "../queue/priority.ts";
import { humanAge, table } from "./format.ts";

export interface ListedMessage {
  id: number;
  status: string;
  priority: string;
  when_added: string;
  age_s: number;
  retry_count: number;
  next_attempt_at: string | null;
  message_id: string;
  envelope_to: string[];
  subject: string;
  last_error: string;
}

export function listedMessage(row: MessageListRow, now: Date): ListedMessage {
  const added = fromDbTime(row.when_added);
  return {
    id: row.id,
    status: row.status,
    priority: priorityName(row.priority),
    when_added: added.toISOString(),
    age_s: Math.max(0, Math.floor((now.getTime() - added.getTime()) / 1000)),
    retry_count: row.retry_count,
    next_attempt_at: row.next_attempt_at === null ? null : fromDbTime(row.next_attempt_at).toISOString(),
    message_id: row.message_id,
    envelope_to: splitRecipients(row.envelope_to),
    subject: row.subject,
    last_error: row.last_error,
  };
}

/** The id is the handle for `show`; the text columns share what the terminal has left. */
export function listText(messages: ListedMessage[], total: number, what: string, width: number): string {
  const kind = what ? `${what} messages` : "messages";
  if (messages.length === 0) return `no ${kind}\n`;
  const body = table(
    [
      { header: "id", right: true },
      { header: "status" },
      { header: "priority" },
      { header: "age", right: true },
      { header: "retries", right: true },
      { header: "message-id", shrink: true, min: 14 },
      { header: "to", shrink: true, min: 16 },
      { header: "subject", shrink: true, min: 16 },
    ],
    messages.map((m) => [String(m.id), m.status, m.priority, humanAge(m.age_s), String(m.retry_count), m.message_id, m.envelope_to.join(", "), m.subject]),
    width,
  );
  const more = total > messages.length ? `\n(${messages.length} of ${total} ${kind} shown; --limit N for more)` : "";
  return body + more + "\n";
}
