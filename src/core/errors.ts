/**
 * Typed errors for dat. Every error a user can cause carries a stable `code`, an exit code from
 * the documented table, and a hint saying what to do next. The CLI's single top-level handler
 * turns them into one human line (or a JSON object under --json) and the exit code.
 */

/** Documented process exit codes (README, "Exit codes"). Scripts rely on these numbers. */
export const ExitCode = {
  ok: 0,
  /** A bug in dat: the stack is printed and a report requested. */
  internal: 1,
  /** Unknown command or flag, missing or malformed argument. */
  usage: 2,
  /** Bad input the user can fix: data, config, passphrase, keystore, state. */
  user: 3,
  /** Something named does not exist: job, round, CID, wallet, contract. */
  notFound: 4,
  /** Access refused: not enough gate tokens, bad signature, not registered, not the operator. */
  denied: 5,
  /** A peer could not be reached or answered badly: orchestrator, RPC, gateway. */
  network: 6,
  /** The operation ran but did not reach its goal: a round that failed or was not published. */
  failed: 7,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface DatErrorOptions {
  /** What the user can do about it; printed on its own line. */
  hint?: string;
  /** Extra lines that help (values held vs required, the file and line…). */
  details?: string[];
  /** Machine-readable context for --json (never secrets). */
  data?: Record<string, unknown>;
  cause?: unknown;
}

/** Base of every error dat throws on purpose. */
export class DatError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;
  readonly details: string[];
  readonly data?: Record<string, unknown>;

  constructor(code: string, exitCode: ExitCodeValue, message: string, options: DatErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.details ?? [];
    this.data = options.data;
  }
}

/** The user can fix it: bad input, bad config, wrong passphrase. No stack trace. */
export class UserError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: string } = {}) {
    super(options.code ?? "USER_ERROR", ExitCode.user, message, options);
  }
}

/** Malformed command line: unknown flag, missing argument, value of the wrong form. */
export class UsageError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: string } = {}) {
    super(options.code ?? "USAGE", ExitCode.usage, message, options);
  }
}

/** Something the user named does not exist. */
export class NotFoundError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: string } = {}) {
    super(options.code ?? "NOT_FOUND", ExitCode.notFound, message, options);
  }
}

/** Access refused (gate token balance, signature, registration, operator rights). */
export class DeniedError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: string } = {}) {
    super(options.code ?? "DENIED", ExitCode.denied, message, options);
  }
}

/** A remote peer (orchestrator, chain RPC, storage gateway) failed or was unreachable. */
export class NetworkError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: string } = {}) {
    super(options.code ?? "NETWORK", ExitCode.network, message, options);
  }
}

/** The operation ran to its end without reaching its goal (e.g. a round that failed). */
export class OperationFailedError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: string } = {}) {
    super(options.code ?? "FAILED", ExitCode.failed, message, options);
  }
}

/** Input bytes from a peer or a file are malformed (deltas, blobs, bodies). */
export class MalformedInputError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: string } = {}) {
    super(options.code ?? "MALFORMED", ExitCode.user, message, options);
  }
}

/** True for errors dat raised deliberately (anything else is a bug). */
export function isDatError(error: unknown): error is DatError {
  return error instanceof DatError;
}
