/**
 * Typed errors across HTTP: the server sends `{ error: { kind, code, message, hint, details, data } }`
 * with a status from the error's class; the client rebuilds the same class, so a caller of the HTTP
 * orchestrator sees exactly what a caller of the embedded one would.
 */
import {
  DatError, DeniedError, ExitCode, MalformedInputError, NetworkError, NotFoundError, OperationFailedError, UsageError, UserError,
  type DatErrorOptions, type ErrorCode,
} from "./errors.js";

export interface ErrorBody {
  kind: string;
  code: string;
  message: string;
  hint?: string;
  details?: string[];
  data?: Record<string, unknown>;
}

/** HTTP status for a typed error. */
export function statusFor(error: DatError): number {
  if (error instanceof MalformedInputError || error instanceof UsageError) return 400;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof DeniedError) return error.code === "OPERATOR_TOKEN_MISSING" ? 401 : 403;
  if (error instanceof NetworkError) return 502;
  if (error instanceof OperationFailedError) return 500;
  if (error.exitCode === ExitCode.user) return 409;
  return 500;
}

export function errorBody(error: DatError): ErrorBody {
  const body: ErrorBody = { kind: error.name, code: error.code, message: error.message };
  if (error.hint) body.hint = error.hint;
  if (error.details.length) body.details = error.details;
  if (error.data) body.data = error.data;
  return body;
}

/** Rebuilds the typed error from a server's error body (or a NetworkError when there is none). */
export function errorFromBody(status: number, body: unknown, url: string): DatError {
  const e = (body as { error?: Partial<ErrorBody> } | undefined)?.error;
  if (!e || typeof e.message !== "string" || typeof e.code !== "string") {
    return new NetworkError(`The orchestrator answered ${status} without a dat error (${url}).`, { code: "ORCHESTRATOR_BAD_ANSWER" });
  }
  // A peer of another dat version may send a code this catalogue lacks; it is carried as is.
  const options: DatErrorOptions & { code: ErrorCode } = { code: e.code as ErrorCode, hint: e.hint, details: e.details, data: e.data };
  switch (e.kind) {
    case "MalformedInputError": return new MalformedInputError(e.message, options);
    case "UsageError": return new UsageError(e.message, options);
    case "NotFoundError": return new NotFoundError(e.message, options);
    case "DeniedError": return new DeniedError(e.message, options);
    case "NetworkError": return new NetworkError(e.message, options);
    case "OperationFailedError": return new OperationFailedError(e.message, options);
    case "UserError": return new UserError(e.message, options);
    default:
      if (status === 404) return new NotFoundError(e.message, options);
      if (status === 401 || status === 403) return new DeniedError(e.message, options);
      if (status === 400 || status === 413 || status === 415) return new MalformedInputError(e.message, options);
      if (status === 429) return new NetworkError(e.message, { ...options, hint: e.hint ?? "Slow down and retry." });
      return new OperationFailedError(e.message, options);
  }
}
