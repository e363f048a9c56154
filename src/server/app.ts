/**
 * The fastify app of `dat serve`: one error codec (core/errorBody) for every route, the rate
 * limit, the orchestrator routes and, when a home is served, the token-gated inference routes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isDatError } from "../core/errors.js";
import { errorBody, statusFor } from "../core/errorBody.js";
import type { Orchestrator } from "../orchestrator/types.js";
import { orchestratorRoutes } from "./orchestratorRoutes.js";

export interface ServerOptions {
  orchestrator: Orchestrator;
  /** Operator bearer token; operator routes are refused when unset. */
  operatorToken?: string;
  /** Largest request body, bytes (sealed deltas, job models). */
  bodyLimit?: number;
  /** Requests per minute per client IP. */
  rateLimitPerMinute?: number;
  /** The home served (handed to the inference routes). */
  home?: string;
  /** Extra dependencies handed to plugin routes (inference). */
  pluginDeps?: Record<string, unknown>;
  logger?: boolean;
  /** Called once per answered request with a concise line's fields (no headers, no bodies). */
  logRequest?: (line: { method: string; url: string; status: number; ms: number }) => void;
}

/** Builds the fastify app (not listening yet). */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { default: Fastify } = await import("fastify");
  const orch = options.orchestrator;
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimit ?? 256 * 1024 * 1024 });
  const { default: rateLimit } = await import("@fastify/rate-limit");
  await app.register(rateLimit, { max: options.rateLimitPerMinute ?? 6000, timeWindow: "1 minute" });
  const logRequest = options.logRequest;
  if (logRequest) {
    app.addHook("onResponse", async (req, reply) => {
      logRequest({ method: req.method, url: req.url.split("?")[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) });
    });
  }
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: unknown, _req: FastifyRequest, reply: FastifyReply) => {
    if (isDatError(error)) return reply.status(statusFor(error)).send({ error: errorBody(error) });
    const e = error as { statusCode?: number; code?: string; message?: string };
    if (typeof e.statusCode === "number" && e.statusCode < 500) {
      // fastify's own rejections: body too large, bad JSON, unsupported type, rate limit.
      const kind = e.statusCode === 404 ? "NotFoundError" : e.statusCode === 429 ? "NetworkError" : "MalformedInputError";
      return reply.status(e.statusCode).send({ error: { kind, code: e.code ?? "HTTP_" + e.statusCode, message: e.message ?? "bad request" } });
    }
    app.log.error(error);
    return reply.status(500).send({ error: { kind: "Error", code: "INTERNAL", message: "internal error in the orchestrator" } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { kind: "NotFoundError", code: "ROUTE_NOT_FOUND", message: `No route ${req.method} ${req.url}.` } }));

  orchestratorRoutes(app, { orchestrator: orch, operatorToken: options.operatorToken });
  (await import("./networkRoutes.js")).networkRoutes(app, { orchestrator: orch, config: options.pluginDeps?.config as never });
  (await import("./eventsRoutes.js")).eventsRoutes(app, { orchestrator: orch });

  // The inference routes (token-gated /jobs/:id/infer) over the served home.
  const home = options.home ?? (orch as { options?: { home?: string } }).options?.home;
  if (home) {
    const { inferRoutes } = await import("./inferenceRoutes.js");
    await app.register(inferRoutes as never, { home, orchestrator: orch, ...(options.pluginDeps ?? {}) } as never);
  }
  return app;
}
