// `mailq` (= `sendmail -bp`): the queue as Postfix's mailq shows it, one entry per message: id (with
// `*` while a worker is delivering it, `!` once it has failed for good), size, arrival, sender, the
// deferral reason in parentheses, then the recipients. Reading the queue takes the database, which only
// root and the mailer account may open: a local user can queue mail but not list anyone's.
import { openContext, type GlobalOptions } from "../context.ts";
import { fromDbTime } from "../db/dialect.ts";
import { mailqRows, type MailqRow } from "../db/queries/inspect.ts";
import { splitRecipients } from "../db/queries/messages.ts";
import { spoolCounts } from "../intake/spool.ts";

export async function mailq(options: GlobalOptions): Promise<number> {
  const ctx = await openContext({ ...options, uses: ["database", "queue", "log"] });
  try {
    const db = await ctx.database();
    const rows = await mailqRows(db.kysely, db.dialect.toDb(ctx.clock()));
    process.stdout.write(mailqText(rows, spoolCounts(ctx.config.queue.spool)?.waiting ?? null));
    return 0;
  } finally {
    await ctx.close();
  }
}

const RECIPIENT_INDENT = " ".repeat(41);

/** "Fri Dec  4 12:00:00", as Postfix prints an arrival time (local time, no year). */
function arrival(date: Date): string {
  const day = date.toLocaleString("en-US", { weekday: "short" });
  const month = date.toLocaleString("en-US", { month: "short" });
  const time = [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  return `${day} ${month} ${String(date.getDate()).padStart(2, " ")} ${time}`;
}

export function mailqText(rows: MailqRow[], spooled: number | null): string {
  const spoolLine = spooled ? `-- ${spooled} message${spooled === 1 ? "" : "s"} in the spool, not yet imported\n` : "";
  if (rows.length === 0) return `Mail queue is empty\n${spoolLine}`;
  const lines = ["-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"];
  let bytes = 0;
  for (const row of rows) {
    bytes += row.size;
    const mark = row.active ? "*" : row.status === "failed" ? "!" : "";
    const sender = row.envelope_from === "" ? "MAILER-DAEMON" : row.envelope_from;
    lines.push(`${(String(row.id) + mark).padEnd(11)} ${String(row.size).padStart(8)} ${arrival(fromDbTime(row.when_added))}  ${sender}`);
    if (row.last_error !== "" && row.status !== "queued") lines.push(`(${row.last_error.replace(/\s+/g, " ").slice(0, 200)})`);
    for (const to of splitRecipients(row.envelope_to)) lines.push(RECIPIENT_INDENT + to);
    lines.push("");
  }
  const kbytes = Math.ceil(bytes / 1024);
  lines.push(`-- ${kbytes} Kbytes in ${rows.length} Request${rows.length === 1 ? "" : "s"}.`);
  return lines.join("\n") + "\n" + spoolLine;
}
