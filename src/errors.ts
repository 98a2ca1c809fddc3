// The few error classes the CLI turns into exit codes (sysexits.h), in exactly one place: src/cli.ts.

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 64, // EX_USAGE: the command line was wrong
  data: 65, // EX_DATAERR: the input (a message, an address) was wrong
  software: 70, // EX_SOFTWARE: a bug, or a user module that threw
  tempfail: 75, // EX_TEMPFAIL: try again later (database unavailable)
  noperm: 77, // EX_NOPERM: this user may not do that (open the queue database)
  config: 78, // EX_CONFIG: configuration (or schema state) is wrong
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class MailerError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

export class UsageError extends MailerError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Bad input: an address, a header, a message. */
export class DataError extends MailerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.data, options);
  }
}

/** A message over queue.max_size (SMTP answers 552, the HTTP API 413). */
export class TooLargeError extends DataError {}

/** A temporary failure the caller should retry, such as an unreachable database. */
export class TempFailError extends MailerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.tempfail, options);
  }
}

/** The invoking user may not open the queue: retrying would not help, so not TempFailError. */
export class PermissionError extends MailerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.noperm, options);
  }
}

/** Configuration problems; `problems` holds every one found, one line each. */
export class ConfigError extends MailerError {
  readonly problems: string[];
  constructor(problems: string[] | string) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.join("\n"), EXIT.config);
    this.problems = list;
  }
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
