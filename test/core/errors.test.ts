import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  DatError, DeniedError, ExitCode, MalformedInputError, NetworkError, NotFoundError, OperationFailedError, UsageError, UserError,
  errorCatalogue, isErrorCode, isRetryable, type ErrorCode, type ExitCodeValue,
} from "../../src/core/errors.js";

const SRC = path.resolve(import.meta.dirname, "../../src");

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

const CLASS_EXIT: Record<string, ExitCodeValue> = {
  UserError: ExitCode.user,
  UsageError: ExitCode.usage,
  NotFoundError: ExitCode.notFound,
  DeniedError: ExitCode.denied,
  NetworkError: ExitCode.network,
  OperationFailedError: ExitCode.failed,
  MalformedInputError: ExitCode.user,
};

function exitsOf(code: ErrorCode): readonly ExitCodeValue[] {
  const entry: { exit: ExitCodeValue; alsoExit?: readonly ExitCodeValue[] } = errorCatalogue[code];
  return [entry.exit, ...(entry.alsoExit ?? [])];
}

describe("error code catalogue", () => {
  it("holds every code literal that src/ raises or sends", () => {
    // Prepare: every `code: "X"`, `code = "X"` default and helper call `fail("X", …)` / `malformed("X", …)` in src.
    const found = new Map<string, string>();
    const patterns = [
      /\bcode\??:\s*(?:[^"\n]*\?\s*)?"([A-Z][A-Z0-9_]+)"(?!\s*\+)(?:\s*:\s*"([A-Z][A-Z0-9_]+)")?/g,
      /\bcode(?::\s*ErrorCode)?\s*=\s*"([A-Z][A-Z0-9_]+)"/g,
      /\?\?\s*"([A-Z][A-Z0-9_]+)"(?!\s*\+)/g, // not "HTTP_" + status: fastify's own codes pass through as they are
      /\b(?:fail|malformed|bad)\(\s*"([A-Z][A-Z0-9_]+)"/g,
    ];
    for (const file of sourceFiles(SRC)) {
      const text = fs.readFileSync(file, "utf8");
      for (const re of patterns) {
        for (const m of text.matchAll(re)) {
          for (const code of m.slice(1)) if (code) found.set(code, path.relative(SRC, file));
        }
      }
    }
    // Execute + Assert
    const missing = [...found].filter(([code]) => !isErrorCode(code)).map(([code, file]) => `${code} (${file})`);
    expect(missing).toEqual([]);
    expect(found.size).toBeGreaterThan(180);
  });

  it("gives each `new XError(…, { code })` site an exit code the catalogue lists for that code", () => {
    const site = /new (UserError|UsageError|NotFoundError|DeniedError|NetworkError|OperationFailedError|MalformedInputError)\(((?:[^()]|\([^()]*\))*?)\bcode:\s*"([A-Z][A-Z0-9_]+)"/gs;
    const wrong: string[] = [];
    let sites = 0;
    for (const file of sourceFiles(SRC)) {
      for (const m of fs.readFileSync(file, "utf8").matchAll(site)) {
        const [, cls, , code] = m;
        if (!isErrorCode(code)) continue; // reported by the test above
        sites++;
        if (!exitsOf(code).includes(CLASS_EXIT[cls])) wrong.push(`${code}: ${cls} in ${path.relative(SRC, file)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(sites).toBeGreaterThan(150);
  });

  it("lists only documented exit codes", () => {
    const documented = new Set<number>(Object.values(ExitCode));
    for (const code of Object.keys(errorCatalogue) as ErrorCode[]) {
      for (const exit of exitsOf(code)) expect(documented.has(exit), code).toBe(true);
    }
  });

  it("rejects strings that are not codes", () => {
    expect(isErrorCode("JOB_NOT_FOUND")).toBe(true);
    expect(isErrorCode("NO_SUCH_CODE")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
    expect(isErrorCode(42)).toBe(false);
  });
});

describe("error classes", () => {
  it("keep their default codes and exit codes", () => {
    const cases: [DatError, string, number][] = [
      [new UserError("x"), "USER_ERROR", 3],
      [new UsageError("x"), "USAGE", 2],
      [new NotFoundError("x"), "NOT_FOUND", 4],
      [new DeniedError("x"), "DENIED", 5],
      [new NetworkError("x"), "NETWORK", 6],
      [new OperationFailedError("x"), "FAILED", 7],
      [new MalformedInputError("x"), "MALFORMED", 3],
    ];
    for (const [error, code, exit] of cases) {
      expect(error.code).toBe(code);
      expect(error.exitCode).toBe(exit);
      expect(exitsOf(error.code)).toContain(exit);
    }
  });

  it("carry the code, hint and cause they were given", () => {
    const cause = new Error("low level");
    const error = new NotFoundError("Job 9 does not exist.", { code: "JOB_NOT_FOUND", hint: "dat job list", cause });
    expect(error.code).toBe("JOB_NOT_FOUND");
    expect(error.exitCode).toBe(ExitCode.notFound);
    expect(error.hint).toBe("dat job list");
    expect(error.cause).toBe(cause);
    expect(error.name).toBe("NotFoundError");
  });
});

describe("isRetryable", () => {
  const withCode = (code: string, cause?: unknown) => Object.assign(new Error(code), { code }, cause === undefined ? {} : { cause });

  it("answers dat errors from the catalogue", () => {
    expect(isRetryable(new NetworkError("down", { code: "ORCHESTRATOR_UNREACHABLE" }))).toBe(true);
    expect(isRetryable(new NetworkError("slow", { code: "ORCHESTRATOR_TIMEOUT" }))).toBe(true);
    expect(isRetryable(new NetworkError("x", { code: "STORE_UNREACHABLE" }))).toBe(true);
    expect(isRetryable(new DeniedError("slow down", { code: "RATE_LIMITED" }))).toBe(true);
    expect(isRetryable(new NetworkError("bad url", { code: "ORCHESTRATOR_BAD_URL" }))).toBe(false);
    expect(isRetryable(new UserError("overflow", { code: "AGGREGATE_OVERFLOW" }))).toBe(false);
    expect(isRetryable(new DeniedError("no", { code: "NODE_NOT_REGISTERED" }))).toBe(false);
    expect(isRetryable(new MalformedInputError("bad", { code: "DELTA_TRUNCATED" }))).toBe(false);
  });

  it("does not retry a dat error whose cause was a network fault but whose code says it would recur", () => {
    const error = new UserError("bad", { code: "CONFIG_INVALID", cause: withCode("ECONNRESET") });
    expect(isRetryable(error)).toBe(false);
  });

  it("retries a network error with a code from a newer peer, not other unknown codes", () => {
    const fromPeer = (Cls: typeof NetworkError | typeof UserError) => new Cls("x", { code: "SOMETHING_NEW" as ErrorCode });
    expect(isRetryable(fromPeer(NetworkError))).toBe(true);
    expect(isRetryable(fromPeer(UserError))).toBe(false);
  });

  it("retries network-level faults, also inside the cause chain", () => {
    for (const code of ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]) {
      expect(isRetryable(withCode(code)), code).toBe(true);
    }
    // undici's fetch: TypeError("fetch failed") with the socket error as its cause.
    expect(isRetryable(Object.assign(new TypeError("fetch failed"), { cause: withCode("UND_ERR_SOCKET") }))).toBe(true);
  });

  it("retries transient disk and database faults", () => {
    expect(isRetryable(withCode("ENOENT"))).toBe(true);
    expect(isRetryable(withCode("EIO"))).toBe(true);
    expect(isRetryable(withCode("SQLITE_BUSY"))).toBe(true);
    expect(isRetryable(withCode("SQLITE_LOCKED_SHAREDCACHE"))).toBe(true);
    expect(isRetryable(withCode("STORE_UNREACHABLE"))).toBe(true);
  });

  it("does not retry bugs, bad input or non-errors", () => {
    expect(isRetryable(new Error("plain"))).toBe(false);
    expect(isRetryable(withCode("SQLITE_CONSTRAINT_UNIQUE"))).toBe(false);
    expect(isRetryable(withCode("UND_ERR_INVALID_ARG"))).toBe(false);
    expect(isRetryable(withCode("AGGREGATE_OVERFLOW"))).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
    expect(isRetryable(null)).toBe(false);
    expect(isRetryable("ECONNRESET")).toBe(false);
    const loop: { code?: string; cause?: unknown } = {};
    loop.cause = loop;
    expect(isRetryable(loop)).toBe(false);
  });
});
