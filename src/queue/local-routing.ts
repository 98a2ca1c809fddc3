// Local names, as a host's mail system treats them: `root` is qualified with [queue] default_domain
// (Postfix's myorigin), and a local recipient is first rewritten through the aliases file. Every
// enqueue path prepares its messages through one of these (prepare.ts), so the rules are the same for
// the library, `mailer queue`, sendmail, the spool and smtpd.
import { statSync, readFileSync } from "node:fs";
import type { Config } from "../config/types.ts";
import { ConfigError, errorText } from "../errors.ts";
import { expandLocal, parseAliases, type AliasTable } from "./aliases.ts";
import { checkAddress } from "./address.ts";
import { defaultMailDomain, hostNames } from "./host-identity.ts";

export interface Routing {
  /** The domain that bare names get. */
  readonly domain: string;
  /** [queue] default_from, or "" */
  readonly defaultFrom: string;
  /** "root" -> "root@domain"; anything with an @ unchanged. */
  readonly qualify: (address: string) => string;
  /** One envelope recipient as given -> the addresses it goes to (aliases applied, then qualified,
   * each checked). An address at one of this host's own names is looked up by its local part. */
  recipients(address: string): string[];
}

/** The parsed aliases file, read again only when it changes (a long-running worker sees edits). */
interface AliasCache {
  key: string;
  table: AliasTable;
}

export class LocalRouting implements Routing {
  readonly domain: string;
  readonly defaultFrom: string;
  readonly #aliasesPath: string;
  readonly #localHosts: Set<string>;
  #cache: AliasCache | null = null;

  constructor(queue: Pick<Config["queue"], "default_domain" | "default_from" | "aliases">) {
    this.domain = queue.default_domain || defaultMailDomain();
    this.defaultFrom = queue.default_from;
    this.#aliasesPath = queue.aliases;
    this.#localHosts = hostNames();
  }

  /** An arrow, so that it can be handed around as a function. */
  readonly qualify = (address: string): string =>
    address.includes("@") || address === "" ? address : `${address}@${this.domain}`;

  recipients(address: string): string[] {
    const at = address.lastIndexOf("@");
    const local = at === -1 ? address : address.slice(0, at);
    const isLocal = at === -1 || this.#localHosts.has(address.slice(at + 1).toLowerCase());
    const table = isLocal && local !== "" ? this.#aliases() : null;
    if (!table || !table.entries.has(local.toLowerCase())) return [checkAddress(this.qualify(address), "recipient")];
    let expanded: string[];
    try {
      expanded = expandLocal(table, local);
    } catch (error) {
      throw new ConfigError(`${table.file}: ${errorText(error)}`);
    }
    return expanded.map((a) => checkAddress(this.qualify(a), `alias ${local}`));
  }

  /** The aliases file as parsed now (null: none configured, or the default one is missing). */
  aliasTable(): AliasTable | null {
    return this.#aliases();
  }

  #aliases(): AliasTable | null {
    if (this.#aliasesPath === "") return null;
    let key: string;
    try {
      const stat = statSync(this.#aliasesPath);
      key = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch (error) {
      // The default /etc/aliases is optional (config/load.ts refuses a named file that is missing).
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new ConfigError(`queue.aliases: cannot read ${this.#aliasesPath}: ${errorText(error)}`);
    }
    if (this.#cache?.key !== key) {
      let text: string;
      try {
        text = readFileSync(this.#aliasesPath, "utf8");
      } catch (error) {
        throw new ConfigError(`queue.aliases: cannot read ${this.#aliasesPath}: ${errorText(error)}`);
      }
      this.#cache = { key, table: parseAliases(text, this.#aliasesPath) };
    }
    return this.#cache.table;
  }
}
