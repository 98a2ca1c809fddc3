// The terminal form of `mailer show`.
import { humanAge, table, timeWithDistance } from "./format.ts";
import type { ShowResult, ShownMessage } from "./show-view.ts";

export function showText(result: ShowResult, what: string, now: Date, width: number): string {
  const parts: string[] = [];
  if (result.messages.length === 0) parts.push(`${what} is not in the queue (sent, or removed); its log:`);
  for (const message of result.messages) parts.push(messageText(message, now));
  parts.push(logText(result, width));
  return parts.join("\n\n") + "\n";
}

function messageText(m: ShownMessage, now: Date): string {
  const added = new Date(m.when_added);
  const claim =
    m.claim === null ? "none" : `${m.claim.by} until ${m.claim.until ?? "?"} (${m.claim.live ? "being delivered" : "lease expired: will be reclaimed"})`;
  const facts = table(
    [{ header: "" }, { header: "" }],
    [
      ["status", m.status],
      ["priority", m.priority],
      ["queued", `${m.when_added} (${humanAge((now.getTime() - added.getTime()) / 1000)} ago)`],
      ["retries", String(m.retry_count)],
      ["next attempt", m.next_attempt_at === null ? "-" : timeWithDistance(new Date(m.next_attempt_at), now)],
      ...(m.limited_by ? [["waiting for", `the ${m.limited_by} limit`]] : []),
      ...(m.expires_at ? [["expires", timeWithDistance(new Date(m.expires_at), now)]] : []),
      ["last error", m.last_error || "-"],
      ["claim", claim],
      ["message-id", m.message_id || "-"],
      ["subject", m.subject],
      ["envelope from", m.envelope_from || "<> (null sender)"],
      ["envelope to", m.envelope_to.join(", ")],
      ["size", `${m.size_bytes} bytes`],
    ],
  )
    .split("\n")
    .slice(1)
    .map((line) => "  " + line.trimEnd());
  const headers = m.headers.split("\n").map((line) => "  " + line);
  return [`message ${m.id}`, ...facts, "", "headers", ...headers].join("\n");
}

function logText(result: ShowResult, width: number): string {
  if (result.log.length === 0) return "log: no attempts recorded";
  const rows = result.log.map((l) => [l.when_attempted, String(l.queue_id ?? "-"), l.result, String(l.retry_count), l.log_message || "-"]);
  const body = table(
    [{ header: "attempted" }, { header: "queue id", right: true }, { header: "result" }, { header: "retries", right: true }, { header: "message", shrink: true, min: 24 }],
    rows,
    width - 2,
  );
  return [`log (${result.log.length})`, ...body.split("\n").map((line) => "  " + line)].join("\n");
}
