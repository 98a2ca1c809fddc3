import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import toml from "toml";
import { configExample } from "../../src/config/example.ts";
import { loadConfig } from "../../src/config/load.ts";
import { KEYS, keyPath } from "../../src/config/schema.ts";
import { ConfigError } from "../../src/errors.ts";
import { tempDir } from "../helpers/db.ts";

const dirs: Array<{ cleanup(): void }> = [];
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

const NO_SYSTEM = "/nonexistent/mailer.toml";

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("lookup and precedence", () => {
  test("with no file anywhere the built-in defaults apply, paths relative to the working directory", () => {
    const cwd = dir();
    const { config } = loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM });
    expect(config.source).toBeNull();
    expect(config.database.url).toBe(`sqlite:${join(cwd, "mailer.db")}`);
    expect(config.delivery.max_batch).toBeNull();
    expect(config.delivery.throttle).toBe(0);
    expect(config.delivery.empty_queue_sleep).toBe(30);
    expect(config.lock.path).toBe(join(cwd, "send_mail"));
    expect(config.lock.wait_timeout).toBe(-1);
    expect(config.lock.use_file_lock).toBe(true);
    expect(config.backend.type).toBe("smtp");
  });

  test("flag beats $MAILER_CONFIG beats ./mailer.toml beats the system file", () => {
    const cwd = dir();
    const write = (name: string, batch: number) => {
      const path = join(cwd, name);
      writeFileSync(path, `[delivery]\nmax_batch = ${batch}\n`);
      return path;
    };
    const flag = write("flag.toml", 1);
    const fromEnv = write("env.toml", 2);
    write("mailer.toml", 3);
    const system = write("system.toml", 4);
    const env = { MAILER_CONFIG: fromEnv };
    expect(loadConfig({ cwd, env, path: flag, systemPath: system }).config.delivery.max_batch).toBe(1);
    expect(loadConfig({ cwd, env, systemPath: system }).config.delivery.max_batch).toBe(2);
    expect(loadConfig({ cwd, env: {}, systemPath: system }).config.delivery.max_batch).toBe(3);
    const elsewhere = dir();
    expect(loadConfig({ cwd: elsewhere, env: {}, systemPath: system }).config.delivery.max_batch).toBe(4);
  });

  test("an environment variable beats the file, and the file beats the default", () => {
    const cwd = dir();
    writeFileSync(join(cwd, "mailer.toml"), `[delivery]\nthrottle = 0.5\nmax_batch = 7\n[lock]\nuse_file_lock = false\n`);
    const { config } = loadConfig({
      cwd,
      env: { MAILER_DELIVERY_THROTTLE: "2.5", MAILER_LOCK_USE_FILE_LOCK: "yes", MAILER_LOCK_WAIT_TIMEOUT: "forever" },
      systemPath: NO_SYSTEM,
    });
    expect(config.delivery.throttle).toBe(2.5);
    expect(config.delivery.max_batch).toBe(7);
    expect(config.lock.use_file_lock).toBe(true);
    expect(config.lock.wait_timeout).toBe("forever");
    expect(config.delivery.empty_queue_sleep).toBe(30);
  });

  test("loading the same text twice gives the same config; a file changed in between is read anew", () => {
    const cwd = dir();
    const path = join(cwd, "mailer.toml");
    const load = () => loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM }).config;
    writeFileSync(path, `[delivery]\nmax_batch = 7\n[smtpd]\nallow_from = ["10.0.0.0/8"]\n`);
    const first = load();
    expect(load()).toEqual(first);
    // The parsed file is shared by such loads: nothing may change it under the next one.
    expect(() => (first.smtpd.allow_from as string[]).push("0.0.0.0/0")).toThrow();
    writeFileSync(path, `[delivery]\nmax_batch = 8\n[smtpd]\nallow_from = ["192.0.2.0/24"]\n`);
    const second = load();
    expect(second.delivery.max_batch).toBe(8);
    expect(second.smtpd.allow_from).toEqual(["192.0.2.0/24"]);
  });

  test("an empty environment value unsets a limit the file set", () => {
    const cwd = dir();
    writeFileSync(join(cwd, "mailer.toml"), `[delivery]\nmax_batch = 7\n`);
    const { config } = loadConfig({ cwd, env: { MAILER_DELIVERY_MAX_BATCH: "" }, systemPath: NO_SYSTEM });
    expect(config.delivery.max_batch).toBeNull();
  });

  test("relative paths in a file resolve against the file's directory", () => {
    const cwd = dir();
    const etc = dir();
    const file = join(etc, "conf.toml");
    writeFileSync(file, `[database]\nurl = "sqlite:./q.db"\n[lock]\npath = "locks/send"\n[backend]\ntype = "file"\ndir = "out"\n`);
    const { config } = loadConfig({ cwd, env: {}, path: file, systemPath: NO_SYSTEM });
    expect(config.database.url).toBe(`sqlite:${join(etc, "q.db")}`);
    expect(config.lock.path).toBe(join(etc, "locks/send"));
    expect(config.backend.dir).toBe(join(etc, "out"));
  });

  test("a config file named by --config or MAILER_CONFIG must exist", () => {
    const cwd = dir();
    expect(problems(() => loadConfig({ cwd, env: {}, path: "missing.toml" }))[0]).toContain("config file not found (named by --config)");
    expect(problems(() => loadConfig({ cwd, env: { MAILER_CONFIG: "nope.toml" } }))[0]).toContain("MAILER_CONFIG");
  });

  test("requireFile refuses to run on defaults alone", () => {
    const cwd = dir();
    expect(problems(() => loadConfig({ cwd, env: {}, requireFile: true, systemPath: NO_SYSTEM }))[0]).toContain("no config file");
  });
});

describe("validation", () => {
  const load = (text: string, env: Record<string, string> = {}) => {
    const cwd = dir();
    writeFileSync(join(cwd, "mailer.toml"), text);
    return () => loadConfig({ cwd, env, systemPath: NO_SYSTEM });
  };

  test("a value of the wrong type names the file, line, key and what was expected", () => {
    const [problem] = problems(load(`# comment\n[delivery]\nmax_batch = "ten"\n`));
    expect(problem).toMatch(/mailer\.toml:3: delivery\.max_batch: expected an integer >= 0, got "ten"$/);
  });

  test("an unknown key is rejected with a did-you-mean", () => {
    const [problem] = problems(load(`[delivery]\nmax_bach = 5\n`));
    expect(problem).toMatch(/mailer\.toml:2: unknown key delivery\.max_bach \(did you mean delivery\.max_batch\?\)/);
  });

  test("an unknown section is rejected with a did-you-mean", () => {
    const [problem] = problems(load(`[delivry]\nthrottle = 1\n`));
    expect(problem).toMatch(/mailer\.toml:1: unknown key delivry \(did you mean delivery\?\)/);
  });

  test("a section key written at top level points at its table", () => {
    const [problem] = problems(load(`throttle = 1\n`));
    expect(problem).toContain("did you mean delivery.throttle under [delivery]?");
  });

  test("Bun's TOML parser reads every config we ship or document to the values the toml package reads", () => {
    const root = join(import.meta.dir, "..", "..");
    const docs = ["README.md", ...["api", "deployment", "limits", "reliability", "web"].map((d) => `docs/${d}.md`)];
    const blocks = docs.flatMap((f) => [...readFileSync(join(root, f), "utf8").matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!));
    const example = readFileSync(join(root, "mailer.toml.example"), "utf8");
    const texts = [
      example,
      // Its commented-out keys too, where one key's alternatives make it a file both must refuse.
      example.replace(/^# ([a-z_]+ = )/gm, "$1"),
      readFileSync(join(root, "packaging/debian/mailer.toml"), "utf8"),
      ...blocks,
      // The forms a hand-written file uses: every string kind, numbers, arrays, inline and dotted tables.
      'a = "x\\t\\u00e9"\nb = \'C:\\dir\'\nc = """\nmulti\nline"""\nd = \'\'\'raw\\n\'\'\'\n',
      "[s]\nn = 1_000\nh = 0x1F\nf = 1.5e3\nneg = -7\ninf = inf\nt = true\nl = [1, 2, 3,]\nm = [\n  \"a\", # c\n  \"b\",\n]\n",
      "[s.t]\nx = { y = 1, z = \"w\" }\nu.v = 2\n[[arr]]\nk = 1\n[[arr]]\nk = 2\n",
    ];
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    const plain = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(plain) : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
    const read = (parse: (text: string) => unknown, text: string) => {
      try {
        return plain(parse(text));
      } catch {
        return "refused";
      }
    };
    for (const text of texts) expect(read(Bun.TOML.parse, text)).toEqual(read(toml.parse, text));
    // Both refuse the example with every alternative uncommented (a key given twice), as they should.
    expect(texts.filter((t) => read(toml.parse, t) === "refused")).toEqual([texts[1]!]);
  });

  test("malformed TOML reports its line and column", () => {
    const [problem] = problems(load(`[delivery]\nthrottle = 1\nmax_batch = = 2\n`));
    expect(problem).toMatch(/mailer\.toml:3:\d+: malformed TOML: /);
  });

  test("every problem is reported at once", () => {
    const found = problems(load(`[backend]\nport = 0\ntype = "smtps"\n[delivery]\nthrottle = -1\nbogus = 1\n`));
    expect(found).toHaveLength(4);
    expect(found.join("\n")).toContain("backend.port: expected an integer from 1 to 65535, got 0");
    expect(found.join("\n")).toContain('backend.type: expected one of "smtp"');
    expect(found.join("\n")).toContain("delivery.throttle: expected a number >= 0, got -1");
    expect(found.join("\n")).toContain("unknown key delivery.bogus");
  });

  test("a bad environment value names the variable", () => {
    const [problem] = problems(load("", { MAILER_BACKEND_POOL: "many" }));
    expect(problem).toBe('environment MAILER_BACKEND_POOL: backend.pool: expected an integer from 1 to 64, got "many"');
  });

  test("a missing secret file is an error naming the file", () => {
    const [problem] = problems(load(`[backend]\npassword_file = "/nonexistent/secret"\n`));
    expect(problem).toMatch(/mailer\.toml:2: backend\.password_file: secret file not found: \/nonexistent\/secret/);
  });

  test("password_env naming an unset variable is an error", () => {
    const [problem] = problems(load(`[backend]\npassword_env = "SMTP_PASSWORD_UNSET"\n`));
    expect(problem).toContain("environment variable SMTP_PASSWORD_UNSET is not set");
  });

  test("only one of password, password_env and password_file may be set", () => {
    const [problem] = problems(load(`[backend]\npassword = "a"\npassword_env = "B"\n`));
    expect(problem).toContain("set only one of password, password_env");
  });

  test("a database URL of an unknown kind is rejected", () => {
    const [problem] = problems(load(`[database]\nurl = "oracle://x"\n`));
    expect(problem).toContain("database.url: expected sqlite:PATH, sqlite::memory:, postgres://… or mysql://");
  });

  test("backend.type = module needs backend.module", () => {
    const [problem] = problems(load(`[backend]\ntype = "module"\n`));
    expect(problem).toContain('backend.module: required when backend.type = "module"');
  });
});

describe("secrets", () => {
  test("the password comes from the environment variable password_env names", () => {
    const cwd = dir();
    writeFileSync(join(cwd, "mailer.toml"), `[backend]\npassword_env = "MY_SMTP_PW"\n`);
    const { config } = loadConfig({ cwd, env: { MY_SMTP_PW: "s3cret" }, systemPath: NO_SYSTEM });
    expect(config.backend.password).toBe("s3cret");
  });

  test("the password comes from password_file, without its final newline", () => {
    const cwd = dir();
    writeFileSync(join(cwd, "pw"), "from-file\n");
    writeFileSync(join(cwd, "mailer.toml"), `[backend]\npassword_file = "pw"\n`);
    expect(loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM }).config.backend.password).toBe("from-file");
  });

  test("a world-readable file holding a password draws a warning", () => {
    const cwd = dir();
    const file = join(cwd, "mailer.toml");
    writeFileSync(file, `[backend]\npassword = "inline"\n`);
    chmodSync(file, 0o644);
    expect(loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM }).warnings[0]).toContain("world-readable");
    chmodSync(file, 0o600);
    expect(loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM }).warnings).toEqual([]);
  });
});

describe("what a command uses", () => {
  const write = (text: string) => {
    const cwd = dir();
    writeFileSync(join(cwd, "mailer.toml"), text);
    return cwd;
  };

  test("an unset password_env stops only the commands that read [backend]", () => {
    const cwd = write(`[backend]\npassword_env = "SMTP_PASSWORD"\n`);
    expect(problems(() => loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM })).join()).toContain("SMTP_PASSWORD is not set");
    const { config, warnings } = loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM, uses: ["database", "queue", "log"] });
    expect(config.backend.password).toBe("");
    // Not even a warning: an unresolved secret is only a problem for the command that needs it.
    expect(warnings).toEqual([]);
  });

  test("a typo or a bad value in a section the command does not read is a warning naming it, and the value its default", () => {
    const cwd = write(`[delivery]\nthrotle = 1\nmax_batch = -5\n[queue]\nmax_size = 5000\n`);
    expect(problems(() => loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM })).length).toBe(2);
    const { config, warnings } = loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM, uses: ["database", "queue", "log"] });
    expect(config.queue.max_size).toBe(5000);
    expect(config.delivery.max_batch).toBeNull();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/mailer\.toml:2: unknown key delivery\.throtle \(did you mean delivery\.throttle\?\) \(not used by this command; ignored\)$/);
    expect(warnings[1]).toContain("delivery.max_batch: expected an integer >= 0");
  });

  test("a problem in a section the command reads still stops it", () => {
    const cwd = write(`[queue]\nmax_size = "big"\n[delivery]\nthrotle = 1\n`);
    const found = problems(() => loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM, uses: ["queue", "log"] }));
    expect(found).toEqual([expect.stringContaining("queue.max_size: expected an integer >= 1")]);
  });

  test("a misspelt section belongs to the section it suggests; an unknown top-level key to the workers", () => {
    const cwd = write(`frobnicate = 2\n[delivry]\nthrottle = 1\n`);
    const sendmail = loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM, uses: ["queue", "log"] });
    expect(sendmail.warnings).toHaveLength(2);
    const worker = problems(() => loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM, uses: ["error_handler", "delivery", "log"] }));
    expect(worker).toHaveLength(2);
  });

  test("uses given as a function is asked with the values read: sendmail needs [database] only without a spool", () => {
    const sendmailUses = (value: (path: string) => unknown) => (value("queue.spool") ? ["queue", "log"] : ["database", "queue", "log"]);
    const broken = `[database]\nurl = "postgres://mailer@db/mail"\npassword_env = "DB_PASSWORD_UNSET"\n`;
    const spooled = write(`${broken}[queue]\nspool = "spool"\n`);
    const { config } = loadConfig({ cwd: spooled, env: {}, systemPath: NO_SYSTEM, uses: sendmailUses });
    expect(config.queue.spool).toBe(join(spooled, "spool"));
    const direct = write(broken);
    expect(problems(() => loadConfig({ cwd: direct, env: {}, systemPath: NO_SYSTEM, uses: sendmailUses })).join()).toContain("DB_PASSWORD_UNSET is not set");
    // The environment's value is the one asked about, as for any key.
    const viaEnv = loadConfig({ cwd: direct, env: { MAILER_QUEUE_SPOOL: "/var/spool/mailer" }, systemPath: NO_SYSTEM, uses: sendmailUses });
    expect(viaEnv.config.queue.spool).toBe("/var/spool/mailer");
  });

  test("[queue] keys: default_from must be an address, a named aliases file must exist, the default one may be missing", () => {
    const cwd = write(`[queue]\ndefault_from = "Ops <ops@x>"\naliases = "no-such-file"\ndefault_domain = "bad domain"\n`);
    const found = problems(() => loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM, uses: ["queue"] }));
    expect(found.join("\n")).toContain("queue.default_from: expected an address");
    expect(found.join("\n")).toContain("queue.aliases: file not found");
    expect(found.join("\n")).toContain("queue.default_domain: expected a domain name");
    const fine = write(`[queue]\ndefault_domain = "example.org."\n`);
    const { config } = loadConfig({ cwd: fine, env: { MAILER_QUEUE_SPOOL: "spool" }, systemPath: NO_SYSTEM, uses: ["queue"] });
    expect(config.queue.default_domain).toBe("example.org");
    expect(config.queue.spool).toBe(join(fine, "spool"));
    expect(config.queue.aliases).toBe("/etc/aliases");
  });
});

describe("the database password", () => {
  test("password_file or password_env goes into a postgres url (encoded); a world-readable toml then holds no secret", () => {
    const cwd = dir();
    writeFileSync(join(cwd, "db-password"), "p@ss:w/rd\n");
    writeFileSync(join(cwd, "mailer.toml"), `[database]\nurl = "postgres://mailer@db.example.org:5432/mail"\npassword_file = "db-password"\n`);
    const { config } = loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM });
    expect(config.database.url).toBe("postgres://mailer:p%40ss%3Aw%2Frd@db.example.org:5432/mail");
    expect(decodeURIComponent(new URL(config.database.url).password)).toBe("p@ss:w/rd");
    expect("password_file" in config.database).toBe(false);
    writeFileSync(join(cwd, "mailer.toml"), `[database]\nurl = "postgres://mailer@db/mail"\npassword_env = "DB_PW"\n`);
    expect(loadConfig({ cwd, env: { DB_PW: "s3cret" }, systemPath: NO_SYSTEM }).config.database.url).toBe("postgres://mailer:s3cret@db/mail");
  });

  test("it is refused for an SQLite url, or a url that has a password already; a command not reading [database] ignores it", () => {
    const cwd = dir();
    writeFileSync(join(cwd, "mailer.toml"), `[database]\nurl = "sqlite:q.db"\npassword_env = "DB_PW"\n`);
    expect(problems(() => loadConfig({ cwd, env: { DB_PW: "x" }, systemPath: NO_SYSTEM }))[0]).toContain("for a postgres:// or mysql:// url");
    writeFileSync(join(cwd, "mailer.toml"), `[database]\nurl = "postgres://a:b@db/mail"\npassword_env = "DB_PW"\n`);
    expect(problems(() => loadConfig({ cwd, env: { DB_PW: "x" }, systemPath: NO_SYSTEM }))[0]).toContain("carries a password already");
    writeFileSync(join(cwd, "mailer.toml"), `[database]\nurl = "postgres://a@db/mail"\npassword_file = "/nonexistent/pw"\n`);
    expect(problems(() => loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM }))[0]).toContain("database.password_file: secret file not found");
    expect(loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM, uses: ["queue", "log"] }).warnings).toEqual([]);
  });
});

describe("mailer.toml.example", () => {
  test("is the text generated from the key table (run `npm run config-example` after adding a key)", () => {
    expect(readFileSync(join(import.meta.dir, "../../mailer.toml.example"), "utf8")).toBe(configExample());
  });

  test("documents every key, and loading it gives exactly the defaults", () => {
    const text = configExample();
    for (const spec of KEYS) expect(text).toContain(spec.example === undefined ? `${spec.key} = ` : `# [${spec.section}.${spec.key}.`);
    const cwd = dir();
    writeFileSync(join(cwd, "mailer.toml"), text);
    const fromExample = loadConfig({ cwd, env: {}, systemPath: NO_SYSTEM }).config;
    const defaults = loadConfig({ cwd: dir(), env: {}, systemPath: NO_SYSTEM }).config;
    for (const spec of KEYS.filter((k) => !k.path && k.section !== "database")) {
      const read = (c: typeof fromExample) =>
        spec.section ? (c as any)[spec.section][spec.key] : (c as any)[spec.key];
      expect({ key: keyPath(spec), value: read(fromExample) }).toEqual({ key: keyPath(spec), value: read(defaults) });
    }
  });
});
