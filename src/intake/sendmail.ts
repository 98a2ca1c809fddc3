// The sendmail(1) intake: a message on stdin plus sendmail's flags becomes one queued message.
import { hostname, userInfo } from "node:os";
import { parseAddressList } from "../queue/address.ts";
import type { EnqueueOutcome } from "../queue/enqueue.ts";
import { prepareMessage } from "../queue/prepare.ts";
import type { Queue } from "../queue/queue.ts";
import { cutAtLoneDot } from "./read-input.ts";
import type { SendmailArgs } from "./sendmail-args.ts";

/** Postfix's default sender when neither -f nor a From header names one: the login name at this host. */
export function defaultSender(): string {
  let user = process.env.USER ?? process.env.LOGNAME ?? "";
  try {
    user = userInfo().username || user;
  } catch {
    // No passwd entry (a container running as an arbitrary uid): keep the environment's name.
  }
  return `${user || "nobody"}@${hostname() || "localhost"}`;
}

export async function sendmailIntake(queue: Queue, args: SendmailArgs, input: Uint8Array): Promise<EnqueueOutcome> {
  const message = args.ignoreDots ? input : cutAtLoneDot(input);
  const sender = args.sender === undefined || args.sender === "" ? args.sender : (parseAddressList(args.sender, "-f")[0] ?? "");
  const prepared = prepareMessage(message, {
    envelopeFrom: sender,
    envelopeTo: args.recipients.flatMap((r) => parseAddressList(r, "recipient")),
    recipientsFromHeaders: args.extractRecipients,
    fromName: args.fullName,
    defaultSender: defaultSender(),
    maxSize: queue.maxSize,
  });
  return queue.enqueueOne(prepared);
}
