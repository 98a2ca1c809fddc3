// What a database URL is, without opening it: its password masked for display, and which server it
// names. Its own module so that config loading (every command, sendmail's fast path included) need
// not load Kysely or a driver.

/** The URL as it may be shown (logs, errors, status): its password replaced by ***. */
export const maskUrl = (url: string) => url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");

/** A database server URL's kind: postgres:// (postgresql://), or mysql:// (mariadb://), which both
 * name a MariaDB server (see docs/schema.md for why MySQL itself is refused). null for anything else. */
export function serverKind(url: string): "postgres" | "mariadb" | null {
  if (/^postgres(ql)?:\/\//.test(url)) return "postgres";
  if (/^(mysql|mariadb):\/\//.test(url)) return "mariadb";
  return null;
}
