// The logger every library module takes instead of writing to the console.
// Text lines for people, one JSON object per line for journald and log shippers.
import { writeStderr } from "./runtime.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  readonly level: LogLevel;
}

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Whether `logger` writes lines of `level`: a caller with a costly line to build asks first. */
export const logsAt = (logger: Pick<Logger, "level">, level: LogLevel) => RANK[level] >= RANK[logger.level];
const COLOUR: Record<LogLevel, string> = { debug: "\x1b[90m", info: "\x1b[36m", warn: "\x1b[33m", error: "\x1b[31m" };

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
  /** A function is asked at the first line written (whether stderr is a terminal: asking builds the
   * stderr stream, which a command that logs nothing should not pay for). */
  colour?: boolean | (() => boolean);
  clock?: () => Date;
  /** Values that never reach output, however they got into a line (an error text quoting one, say). */
  secrets?: string[];
}

/** Field names whose values never reach a log line. */
const SECRET_FIELD = /pass(word)?|secret|token|auth/i;

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) out[key] = SECRET_FIELD.test(key) ? "[redacted]" : value;
  return out;
}

/** Masks each secret and any password written into a URL (user:password@host) in a finished line. */
export function scrubLine(line: string, secrets: readonly string[]): string {
  let out = line.replace(/(\/\/[^:/@\s"]*:)[^@\s"/]+@/g, "$1***@");
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join("***");
  return out;
}

function textValue(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[\s"=]/.test(text ?? "") ? JSON.stringify(text) : String(text);
}

export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const level = options.level ?? "info";
  const format = options.format ?? "text";
  const raw = options.write ?? ((line: string) => writeStderr(line + "\n"));
  const secrets = options.secrets ?? [];
  const write = (line: string) => raw(scrubLine(line, secrets));
  let colour = typeof options.colour === "function" ? null : (options.colour ?? false);
  const inColour = () => (colour ??= (options.colour as () => boolean)());
  const clock = options.clock ?? (() => new Date());

  const emit = (at: LogLevel, message: string, fields?: LogFields) => {
    if (RANK[at] < RANK[level]) return;
    const all = redact({ ...bound, ...fields });
    const time = clock().toISOString();
    if (format === "json") {
      write(JSON.stringify({ time, level: at, msg: message, ...all }));
      return;
    }
    const extra = Object.entries(all)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${textValue(v)}`)
      .join(" ");
    const tag = at.toUpperCase().padEnd(5);
    const head = inColour() ? `${COLOUR[at]}${tag}\x1b[0m` : tag;
    // One entry, one line (a multi-line SMTP reply, an error with a stack): newlines shown as \n.
    const text = message.replace(/\r?\n/g, "\\n");
    write(`${time} ${head} ${text}${extra ? " " + extra : ""}`);
  };

  return {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** A logger whose target can be replaced while everything holding it keeps the same object: a
 * reloaded config changes the level or format at once, for children made before the swap too. */
export interface SwitchableLogger extends Logger {
  use(next: Logger): void;
}

export function switchableLogger(initial: Logger): SwitchableLogger {
  let current = initial;
  const view = (bound: LogFields | null): Logger => {
    const at = (level: LogLevel) => (message: string, fields?: LogFields) =>
      current[level](message, bound ? { ...bound, ...fields } : fields);
    return {
      get level() {
        return current.level;
      },
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
      child: (fields) => view({ ...bound, ...fields }),
    };
  };
  return Object.assign(view(null), { use: (next: Logger) => void (current = next) });
}

/** A logger that keeps its lines in memory, for tests. */
export function memoryLogger(level: LogLevel = "debug"): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level, format: "json", write: (l) => lines.push(l) });
  return Object.assign(logger, { lines });
}
