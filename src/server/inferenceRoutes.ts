/**
 * The inference routes of `dat serve`, as a fastify plugin:
 *   GET  /jobs/:id/challenge?purpose=infer|model-key   fresh EIP-712 challenge to sign
 *   POST /jobs/:id/session    {challenge}                          → session token (skip re-signing)
 *   POST /jobs/:id/infer      {challenge? , inputs? , files?} (+ Authorization: Bearer <session>)
 *   POST /jobs/:id/model-key  {challenge}                          → key of the encrypted model
 * Errors are `{error: {code, message, hint?, details?, data?}}` with a status from the error's kind.
 * Rate limits are per proven address (per IP before an address is known), bodies are bounded,
 * and every request has a deadline.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Address } from "viem";
import type Database from "better-sqlite3";
import { z } from "zod";
import { DatError, DeniedError, ExitCode, MalformedInputError, OperationFailedError, isDatError } from "../core/errors.js";
import type { DatConfig } from "../config/schema.js";
import { errorBody } from "../core/errorBody.js";
import { InferenceEngine, type BlobGet, type InferenceEngineOptions } from "../inference/engine.js";
import type { InferenceJob } from "../inference/jobs.js";
import { rateLimitedError } from "./rateLimited.js";

export interface InferRoutesOptions extends Partial<InferenceEngineOptions> {
  /** A ready engine (shares its warm models and caches); else one is built from the options. */
  engine?: InferenceEngine;
  /** The audience written into challenges; default: the request's own origin. */
  audience?: string;
  /** The server's home: its database, config and store are opened from it when not given. */
  home?: string;
  /** The orchestrator `dat serve` runs: model bytes are read through it when no store is given. */
  orchestrator?: { getModel(cid: string): Promise<Uint8Array>; db?: InferenceEngineOptions["db"] };
}

/** Fill in the database, config and store from the home (and the orchestrator) when not given. */
async function engineOptions(options: InferRoutesOptions): Promise<{ engine: InferenceEngineOptions; ownDb: boolean }> {
  if (options.db && options.store && options.config) return { engine: options as InferenceEngineOptions, ownDb: false };
  if (!options.home) throw new Error("inferRoutes needs either {db, store, config} or {home}");
  const home = options.home;
  const config = options.config ?? (await (await import("../config/index.js")).loadConfig({ home, env: process.env })).values;
  const orchestrator = options.orchestrator;
  // Share the embedded orchestrator's connection when it has one (same home, same database).
  const shared = options.db ?? orchestrator?.db;
  const db = shared ?? (await import("../db/index.js")).openDatabase(home);
  const store = options.store ?? (orchestrator ? { get: (cid: string) => orchestrator.getModel(cid) } : await openHomeStore(home, config, db));
  return { engine: { ...options, db, store, config }, ownDb: !shared };
}

async function openHomeStore(home: string, config: DatConfig, db: Database.Database): Promise<BlobGet> {
  const { openStore } = await import("../store/index.js");
  const { privateModelStore } = await import("../inference/modelKeys.js");
  return privateModelStore(db, await openStore(home, config));
}

const idParams = z.object({ id: z.string().regex(/^[1-9]\d{0,15}$/, "a positive integer job id") });
const fileSchema = z.object({
  format: z.enum(["json", "jsonl", "csv", "png", "idx"]).optional(),
  name: z.string().max(200).optional(),
  data: z.string(),
  encoding: z.enum(["utf8", "base64"]).optional(),
});
const inferBody = z.object({
  challenge: z.unknown().optional(),
  inputs: z.unknown().optional(),
  files: z.array(fileSchema).max(256).optional(),
});
const challengeBody = z.object({ challenge: z.unknown() });
const purposeQuery = z.object({ purpose: z.enum(["infer", "model-key"]).default("infer") });

declare module "fastify" {
  interface FastifyRequest {
    datInfer?: { job: InferenceJob; address?: Address };
  }
}

/** The engine inferRoutes would build from `options`, and what closes it (for routes that share it). */
export async function createInferenceEngine(options: InferRoutesOptions): Promise<{ engine: InferenceEngine; close: () => void }> {
  const built = await engineOptions(options);
  const engine = new InferenceEngine(built.engine);
  return {
    engine,
    close: () => {
      engine.close();
      if (built.ownDb) built.engine.db.close();
    },
  };
}

/** Register the inference routes on `app` (use with app.register). */
export async function inferRoutes(app: FastifyInstance, options: InferRoutesOptions): Promise<void> {
  let engine = options.engine;
  if (!engine) {
    const built = await engineOptions(options);
    const own = new InferenceEngine(built.engine);
    engine = own;
    app.addHook("onClose", async () => {
      own.close();
      if (built.ownDb) built.engine.db.close();
    });
  }
  const limits = engine.config.infer;

  const { default: rateLimit } = await import("@fastify/rate-limit");
  await app.register(rateLimit, {
    global: false,
    max: limits.rateLimitPerMinute,
    timeWindow: 60_000,
    errorResponseBuilder: rateLimitedError("for this address"),
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = httpError(error);
    if (status >= 500 && !isDatError(error)) request.log.error(error);
    void reply.status(status).send({ error: body });
  });

  const audienceOf = (req: FastifyRequest) => options.audience ?? `${req.protocol}://${req.host}`;
  // Several addresses may share one IP (a NAT, a gateway): challenges get a wider per-IP allowance.
  const ipLimit = { max: limits.rateLimitPerMinute * 4, timeWindow: 60_000, keyGenerator: (req: FastifyRequest) => `ip:${req.ip}` };
  // Keyed by the address proven in preValidation (so nobody spends someone else's quota);
  // callers of a public model are keyed by IP.
  const addressLimit = {
    max: limits.rateLimitPerMinute,
    timeWindow: 60_000,
    hook: "preHandler" as const,
    keyGenerator: (req: FastifyRequest) => (req.datInfer?.address ? `addr:${req.datInfer.address.toLowerCase()}` : `ip:${req.ip}`),
  };

  app.get("/jobs/:id/challenge", { config: { rateLimit: ipLimit } }, async (req) => {
    const { id } = parse(idParams, req.params, "URL");
    const { purpose } = parse(purposeQuery, req.query ?? {}, "query");
    return withDeadline(limits.timeoutMs, engine.challenge(id, purpose, audienceOf(req)));
  });

  app.post("/jobs/:id/session", { bodyLimit: 64 * 1024, config: { rateLimit: ipLimit } }, async (req) => {
    const { id } = parse(idParams, req.params, "URL");
    const { challenge } = parse(challengeBody, req.body, "body");
    const session = await withDeadline(limits.timeoutMs, engine.openSession(id, challenge));
    return { token: session.token, address: session.address, jobId: session.jobId, expiresAt: session.expiresAt };
  });

  app.post(
    "/jobs/:id/infer",
    {
      bodyLimit: limits.bodyLimitBytes,
      config: { rateLimit: addressLimit },
      preValidation: async (req) => {
        const { id } = parse(idParams, req.params, "URL");
        const body = parse(inferBody, req.body, "body");
        const job = await engine.job(id);
        const session = bearer(req);
        const { address } = await withDeadline(limits.timeoutMs, engine.authorize(job, { challenge: body.challenge, session }, "infer"));
        req.datInfer = { job, address };
      },
    },
    async (req) => {
      const body = req.body as z.infer<typeof inferBody>;
      const { job, address } = req.datInfer!;
      return withDeadline(limits.timeoutMs, engine.run(job, { inputs: body.inputs, files: body.files }, address));
    },
  );

  app.post("/jobs/:id/model-key", { bodyLimit: 64 * 1024, config: { rateLimit: ipLimit } }, async (req) => {
    const { id } = parse(idParams, req.params, "URL");
    const { challenge } = parse(challengeBody, req.body, "body");
    return withDeadline(limits.timeoutMs, engine.releaseModelKey(id, challenge));
  });
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  if (!m) throw new DeniedError("The Authorization header must be 'Bearer <session token>'.", { code: "SESSION_INVALID" });
  return m[1];
}

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new MalformedInputError(`The request ${where} is malformed.`, {
      code: where === "URL" ? "BAD_JOB_ID" : "BODY_MALFORMED",
      details: result.error.issues.map((i) => `${i.path.join(".") || where}: ${i.message}`),
    });
  }
  return result.data;
}

/** Fail the request (not the server) when the work takes longer than `ms`. */
async function withDeadline<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new OperationFailedError(`The request took longer than ${ms} ms and was abandoned.`, { code: "INFER_TIMEOUT", hint: "Send a smaller batch or retry later." }), { statusCode: 504 })),
      ms,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const statusByExit: Record<number, number> = {
  [ExitCode.usage]: 400,
  [ExitCode.user]: 400,
  [ExitCode.notFound]: 404,
  [ExitCode.denied]: 403,
  [ExitCode.network]: 502,
  [ExitCode.failed]: 503,
};

/** The HTTP status and JSON error body for an error thrown while serving. */
export function httpError(error: unknown): { status: number; body: Record<string, unknown> } {
  if (error instanceof DatError) {
    const explicit = (error as { statusCode?: number }).statusCode;
    const status = explicit ?? (error.code === "AUTH_REQUIRED" ? 401 : statusByExit[error.exitCode] ?? 500);
    return { status, body: { ...errorBody(error) } };
  }
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    const code =
      e.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? "BODY_TOO_LARGE"
      : e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ? "BODY_UNSUPPORTED_TYPE"
      : e.statusCode === 404 ? "NOT_FOUND"
      : "BODY_MALFORMED";
    const kind = e.statusCode === 404 ? "NotFoundError" : "MalformedInputError";
    return { status: e.statusCode, body: { kind, code, message: e.message ?? "Bad request." } };
  }
  return { status: 500, body: { kind: "Error", code: "INTERNAL", message: "Internal error while serving the request." } };
}


