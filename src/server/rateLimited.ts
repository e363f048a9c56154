import { DeniedError } from "../core/errors.js";

/**
 * The error @fastify/rate-limit answers with (its `errorResponseBuilder`): RATE_LIMITED, HTTP 429,
 * naming the limit and what it counts (`scope`: "on this route", "for this address").
 */
export function rateLimitedError(scope: string) {
  return (_req: unknown, context: { max: number; after: string }): DeniedError & { statusCode: number } =>
    Object.assign(
      new DeniedError(`Rate limit reached: at most ${context.max} requests per ${context.after} ${scope}.`, {
        code: "RATE_LIMITED",
        hint: `Retry after ${context.after}.`,
      }),
      { statusCode: 429 },
    );
}
