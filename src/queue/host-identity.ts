// Who is submitting and where: the login name behind a uid, and this host's mail domain. Read from
// the system's files, not the environment: cron runs jobs with $USER unset, and Bun's os.userInfo()
// reads $USER (it says "unknown" without it) rather than the password database.
import { readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";

/** The fields of /etc/passwd we use. */
interface PasswdEntry {
  name: string;
  uid: number;
}

function readPasswd(path: string): PasswdEntry[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const entries: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const [name, , uid] = line.split(":");
    if (name && uid !== undefined && /^\d+$/.test(uid)) entries.push({ name, uid: Number(uid) });
  }
  return entries;
}

/** The login name of `uid`: its first /etc/passwd entry; for an account that only a directory
 * service knows, what the runtime says for our own uid; else "uid<N>" (still a valid local part). */
export function loginOf(uid: number, passwd = "/etc/passwd"): string {
  const entry = readPasswd(passwd).find((e) => e.uid === uid);
  if (entry) return entry.name;
  if (uid === currentUid()) {
    try {
      const name = userInfo().username;
      if (name && name !== "unknown") return name;
    } catch {
      // no passwd entry at all
    }
  }
  return `uid${uid}`;
}

/** The real uid of this process (-1 where the platform has none). */
export const currentUid = () => process.getuid?.() ?? -1;

/** This process's user: its uid and that uid's login (the submitter of what it queues). */
export function currentUser(): { uid: number; login: string } {
  const uid = currentUid();
  return { uid, login: loginOf(uid) };
}

/** This host's names as they may appear after the @ of a local address: localhost, the host name and
 * its fully qualified form (lower case). */
export function hostNames(): Set<string> {
  const short = hostname().toLowerCase();
  return new Set(["localhost", short, fullHostName().toLowerCase()].filter(Boolean));
}

/** The host name with its domain, as `hostname -f` finds it: the name itself when it has a dot, else the
 * first dotted name on an /etc/hosts line that lists it. */
export function fullHostName(hostsFile = "/etc/hosts"): string {
  const short = hostname() || "localhost";
  if (short.includes(".")) return short;
  try {
    for (const line of readFileSync(hostsFile, "utf8").split("\n")) {
      const names = line.replace(/#.*/, "").trim().split(/\s+/).slice(1);
      if (names.some((n) => n.toLowerCase() === short.toLowerCase())) {
        const dotted = names.find((n) => n.includes("."));
        if (dotted) return dotted;
      }
    }
  } catch {
    // no /etc/hosts
  }
  return short;
}

/** The domain for bare local names when [queue] default_domain is empty: Debian's /etc/mailname (what
 * Postfix and exim use there for myorigin), else this host's full name. */
export function defaultMailDomain(mailname = "/etc/mailname"): string {
  try {
    const name = readFileSync(mailname, "utf8").trim();
    if (name !== "" && !/\s/.test(name)) return name;
  } catch {
    // no /etc/mailname
  }
  return fullHostName();
}
