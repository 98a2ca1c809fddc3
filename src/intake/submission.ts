// A submission: a message as a local program or an SMTP client handed it over, with the envelope it
// gave and who gave it. The sendmail command, `sendmail -bs`, smtpd and the spool importer all turn
// one into a queued message through prepareSubmission, so each path applies the same rules; the spool
// stores submissions as they are (spool.ts) and the importer prepares them with the identity the
// file system vouches for.
import { hostname } from "node:os";
import { parseMailboxes } from "../queue/address.ts";
import type { Routing } from "../queue/local-routing.ts";
import { prepareMessage, rfc5322Date, type PreparedMessage } from "../queue/prepare.ts";

/** How a message arrived, for its Received: trace. */
export type Via =
  | { protocol: "local" }
  | { protocol: "ESMTP" | "SMTP" | "ESMTPA"; helo: string; remoteAddress?: string; authUser?: string };

export interface Submitter {
  uid: number;
  login: string;
}

export interface Submission {
  /** -f, -r or MAIL FROM; undefined: from the message's Sender/From; "" the null sender. */
  sender?: string;
  /** Recipients given as arguments or RCPT TO (bare local names allowed). */
  recipients: string[];
  /** sendmail -t: also the To/Cc/Bcc addresses. */
  extractRecipients: boolean;
  /** sendmail -F: the display name of a From header we add. */
  fullName?: string;
  via: Via;
  /** The local user who handed it over (null for a network client of smtpd). */
  submitter: Submitter | null;
  /** The message, dot handling already applied. */
  data: Uint8Array;
}

/** The Received: field added on the sendmail and smtpd paths (RFC 5321 §4.4), e.g.
 * "by mail.example.org (mailer, from userid 33 www-data); Fri, 04 Dec 2026 12:00:00 +0000". */
export function receivedTrace(sub: Pick<Submission, "via" | "submitter">, now = new Date()): string {
  const by = `by ${hostname() || "localhost"} (mailer${sub.submitter ? `, from userid ${sub.submitter.uid} ${sub.submitter.login}` : ""})`;
  const via = sub.via;
  if (via.protocol === "local") return `${by}; ${rfc5322Date(now)}`;
  const client = via.remoteAddress ? ` ([${via.remoteAddress}])` : "";
  const auth = via.authUser ? ` (authenticated as ${token(via.authUser)})` : "";
  return `from ${token(via.helo) || "unknown"}${client}${auth} ${by} with ${via.protocol}; ${rfc5322Date(now)}`;
}

/** What a client said about itself, reduced to characters that cannot disturb the trace. */
const token = (text: string) => text.replace(/[^A-Za-z0-9.:_\[\]@-]/g, "?").slice(0, 200);

export interface PrepareSubmissionOptions {
  routing: Routing;
  maxSize: number;
  now?: Date;
}

/** Validate and compose the message to store, exactly as every intake path does. */
export function prepareSubmission(sub: Submission, options: PrepareSubmissionOptions): PreparedMessage {
  const { routing } = options;
  // sendmail(1) and Postfix: with neither -f nor a From header, the sender is the login at the mail
  // domain; [queue] default_from (Django's DEFAULT_FROM_EMAIL) overrides that for every path.
  const defaultSender = routing.defaultFrom || (sub.submitter ? routing.qualify(sub.submitter.login) : undefined);
  return prepareMessage(sub.data, {
    envelopeFrom: sub.sender === undefined || sub.sender === "" ? sub.sender : (parseMailboxes(sub.sender, "sender")[0]?.address ?? ""),
    envelopeTo: sub.recipients,
    recipientsFromHeaders: sub.extractRecipients,
    fromName: sub.fullName,
    defaultSender,
    routing,
    trace: receivedTrace(sub, options.now),
    maxSize: options.maxSize,
    now: options.now,
  });
}
