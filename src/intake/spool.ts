// The maildrop spool ([queue] spool): how a user who may not open the database still queues mail.
// sendmail writes one file per message into a directory that everyone may write to but no one but
// its owner may list (mode 3733, owner and group `mailer`, like Postfix's world-writable maildrop
// before postdrop); every pass imports it (spool-import.ts). The file's owner, which only the kernel
// sets, says who submitted it; the setgid directory gives each file the importer's group, and the
// file's mode (0640) keeps every other user out. docs/security.md has the whole threat model.
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, openSync, readdirSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { randomHex } from "../bytes.ts";
import { ConfigError, DataError, TempFailError, errorText } from "../errors.ts";
import type { Submission, Via } from "./submission.ts";

const MAGIC = "MAILER-SPOOL 1\n";
/** `<time in base 36>-<128 random bits>.msg`: unguessable, and sorted by arrival. */
const NAME = /^[0-9a-z]{6,12}-[0-9a-f]{32}\.msg$/;
/** Room for the envelope line on top of the message itself. */
const ENVELOPE_MAX = 1024 * 1024;

/** What a spool file says besides the message (the submitter's uid comes from the file's owner). */
interface SpoolEnvelope {
  sender?: string;
  recipients: string[];
  extractRecipients: boolean;
  fullName?: string;
  via: Via;
  login: string;
}

/** A spool file that can never be imported (not ours, tampered with, or not a message any more). */
export class BadSpoolFile extends Error {}

export const isSpoolName = (name: string) => NAME.test(name);

/** What waits in the spool and what was set aside there; null where there is none or this user may
 * not list it (a local user: only root and the mailer account may). */
export function spoolCounts(dir: string | null): { waiting: number; set_aside: number } | null {
  if (!dir) return null;
  try {
    const names = readdirSync(dir);
    return { waiting: names.filter(isSpoolName).length, set_aside: names.filter((n) => n.endsWith(".bad")).length };
  } catch {
    return null;
  }
}

/** Write `sub` into the spool directory; returns the file's name. Written under a temporary name and
 * renamed, so the importer never sees half a file; synced first, so "queued" survives a power cut. */
export function dropInSpool(dir: string, sub: Submission): string {
  const name = `${Date.now().toString(36)}-${randomHex(16)}`;
  const temporary = join(dir, `.${name}.tmp`);
  const final = join(dir, `${name}.msg`);
  const envelope: SpoolEnvelope = {
    sender: sub.sender,
    recipients: sub.recipients,
    extractRecipients: sub.extractRecipients,
    fullName: sub.fullName,
    via: sub.via,
    login: sub.submitter?.login ?? "",
  };
  const head = Buffer.from(MAGIC + JSON.stringify(envelope) + "\n", "utf8");
  let fd: number | null = null;
  try {
    fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o640);
    // Set after the fact: a umask such as 077 would otherwise shut out the importer's group.
    fchmodSync(fd, 0o640);
    writeAll(fd, head);
    writeAll(fd, sub.data);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temporary, final);
  } catch (error) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // never created, or already renamed
    }
    throw spoolWriteError(dir, error);
  }
  return `${name}.msg`;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}

/** A missing or closed spool is the operator's to fix (78); a full disk may pass (75). */
function spoolWriteError(dir: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return new ConfigError(`queue.spool: ${dir} does not exist (create it: see docs/deployment.md)`);
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new ConfigError(`queue.spool: cannot write to ${dir} (${code}); it must be mode 3733 (see docs/deployment.md)`);
  }
  return new TempFailError(`queue.spool: cannot write to ${dir}: ${errorText(error)}`, { cause: error });
}

export interface SpoolFile {
  name: string;
  /** The owner of the file: who submitted it. */
  uid: number;
  /** The login the submitter's sendmail wrote down (trusted only where the password file has no entry). */
  login: string;
  /** When it was dropped (its mtime, never later than now): "+10m" and expiry count from then. */
  submittedAt: Date;
  submission: Omit<Submission, "submitter">;
}

/** Read one spool file, trusting nothing in it: not a link (followed or hard), not a device or FIFO,
 * no bigger than a message may be, in our format. */
export function readSpoolFile(dir: string, name: string, maxSize: number): SpoolFile {
  if (!isSpoolName(name)) throw new BadSpoolFile(`${name}: not a spool file name`);
  let fd: number;
  try {
    fd = openSync(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") throw new BadSpoolFile(`${name}: a symbolic link`);
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new BadSpoolFile(`${name}: not a regular file`);
    if (stat.nlink !== 1) throw new BadSpoolFile(`${name}: has ${stat.nlink} links (a hard link to another file?)`);
    if (stat.size > maxSize + ENVELOPE_MAX) throw new BadSpoolFile(`${name}: ${stat.size} bytes, over queue.max_size`);
    const bytes = Buffer.alloc(stat.size);
    for (let done = 0; done < stat.size; ) {
      const got = readSync(fd, bytes, done, stat.size - done, done);
      if (got === 0) throw new BadSpoolFile(`${name}: shorter than its size`);
      done += got;
    }
    const submittedAt = new Date(Math.min(stat.mtimeMs, Date.now()));
    return { name, uid: stat.uid, submittedAt, ...parseSpoolBytes(name, bytes) };
  } finally {
    closeSync(fd);
  }
}

function parseSpoolBytes(name: string, bytes: Buffer): Pick<SpoolFile, "login" | "submission"> {
  if (bytes.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) throw new BadSpoolFile(`${name}: not in the spool format`);
  const end = bytes.indexOf(0x0a, MAGIC.length);
  if (end === -1) throw new BadSpoolFile(`${name}: no envelope line`);
  let envelope: SpoolEnvelope;
  try {
    envelope = JSON.parse(bytes.subarray(MAGIC.length, end).toString("utf8")) as SpoolEnvelope;
  } catch {
    throw new BadSpoolFile(`${name}: the envelope line is not JSON`);
  }
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  const optional = (v: unknown) => v === undefined || typeof v === "string";
  const via = envelope?.via as { protocol?: unknown; helo?: unknown } | undefined;
  const viaOk = via?.protocol === "local" || (["ESMTP", "SMTP", "ESMTPA"].includes(String(via?.protocol)) && typeof via?.helo === "string");
  if (!strings(envelope?.recipients) || typeof envelope.extractRecipients !== "boolean" || !optional(envelope.sender) ||
    !optional(envelope.fullName) || typeof envelope.login !== "string" || !viaOk) {
    throw new BadSpoolFile(`${name}: the envelope line is not what sendmail writes`);
  }
  const data = bytes.subarray(end + 1);
  if (data.byteLength === 0) throw new DataError(`${name}: the message is empty`);
  return {
    login: envelope.login,
    submission: {
      sender: envelope.sender,
      recipients: envelope.recipients,
      extractRecipients: envelope.extractRecipients,
      fullName: envelope.fullName,
      via: envelope.via,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    },
  };
}
