// A database URL as it may be shown (logs, errors, status): its password replaced by ***. Its own
// module so that config loading (every command, sendmail's fast path included) need not load Kysely.
export const maskUrl = (url: string) => url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
