/**
 * The fastify app of `dat serve`: one error codec (core/errorBody) for every route, the rate
 * limit, the orchestrator routes and, when a home is served, the token-gated inference routes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isDatError } from "../core/errors.js";
import { errorBody, statusFor } from "../core/errorBody.js";
import type { Orchestrator } from "../orchestrator/types.js";
import { orchestratorRoutes, type OrchestratorRoutesOptions, type ServerLimits } from "./orchestratorRoutes.js";
import { rateLimitedError } from "./rateLimited.js";

export interface ServerOptions {
  orchestrator: Orchestrator;
  /** Operator bearer token; operator routes are refused when unset. */
  operatorToken?: string;
  /** Largest body of the routes that authenticate first (sealed deltas, operator's job models), bytes. */
  bodyLimit?: number;
  /** Largest body of every other route (JSON from anyone), bytes; default 64 KiB. */
  smallBodyLimit?: number;
  /** Requests per minute per client IP. */
  rateLimitPerMinute?: number;
  /** Registrations per minute and GET /nodes page sizes (config orchestrator.*; defaults when absent). */
  limits?: Partial<ServerLimits>;
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
  // Unauthenticated bodies are small; the two routes that take large ones raise their own limit
  // and authenticate from the headers first.
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.smallBodyLimit ?? 64 * 1024 });
  const { default: rateLimit } = await import("@fastify/rate-limit");
  await app.register(rateLimit, {
    max: options.rateLimitPerMinute ?? 6000,
    timeWindow: "1 minute",
    errorResponseBuilder: rateLimitedError("on this route"),
  });
  // Passed through as a stream: the submission route reads it itself, after authenticating, into
  // a buffer of the declared (and bounded) size; no other route accepts octet-stream.
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));
  const logRequest = options.logRequest;
  if (logRequest) {
    app.addHook("onResponse", async (req, reply) => {
      logRequest({ method: req.method, url: req.url.split("?")[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) });
    });
  }

  app.setErrorHandler((error: unknown, _req: FastifyRequest, reply: FastifyReply) => {
    if (isDatError(error)) {
      const explicit = (error as { statusCode?: unknown }).statusCode;
      return reply.status(typeof explicit === "number" ? explicit : statusFor(error)).send({ error: errorBody(error) });
    }
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

  (await import("./networkRoutes.js")).networkRoutes(app, { orchestrator: orch, config: options.pluginDeps?.config as never });
  (await import("./eventsRoutes.js")).eventsRoutes(app, { orchestrator: orch });

  // The inference routes (token-gated /jobs/:id/infer) over the served home; their engine also
  // decides who may download a gated job's model.
  const home = options.home ?? (orch as { options?: { home?: string } }).options?.home;
  let modelAccess: OrchestratorRoutesOptions["modelAccess"];
  if (home) {
    const { inferRoutes, createInferenceEngine } = await import("./inferenceRoutes.js");
    const pluginOptions = { home, orchestrator: orch, ...(options.pluginDeps ?? {}) };
    const { engine, close } = await createInferenceEngine(pluginOptions as never);
    app.addHook("onClose", async () => close());
    const { checkModelAccess } = await import("../inference/modelAccess.js");
    const db = (engine as unknown as { db: Parameters<typeof checkModelAccess>[0] }).db;
    const staking = (orch as { options?: { staking?: Parameters<typeof checkModelAccess>[5] } }).options?.staking;
    modelAccess = (req, cid, isOperator) => checkModelAccess(db, engine, req, cid, isOperator, staking);
    await app.register(inferRoutes as never, { ...pluginOptions, engine } as never);
  }
  orchestratorRoutes(app, {
    orchestrator: orch, operatorToken: options.operatorToken, largeBodyLimit: options.bodyLimit ?? 256 * 1024 * 1024,
    modelAccess, limits: options.limits,
  });
  return app;
}
