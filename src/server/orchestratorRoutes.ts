/**
 * The orchestrator routes of `dat serve`: the Orchestrator interface behind HTTP.
 *
 * Routes (JSON unless said otherwise; errors are `{ error: { kind, code, message, hint } }`):
 *   GET  /health                                  liveness
 *   POST /nodes                                   signed node registration (≤ 8 KiB body; per IP and per address
 *                                                 at most orchestrator.registrationsPerMinute, default 30)
 *   GET  /nodes?limit=&after=                     { nodes, next }: a page by address (orchestrator.nodesPageSize,
 *                                                 default 100; at most orchestrator.nodesPageMax, default 500)
 *   POST /jobs                         operator   { input: CreateJobInput, model: base64 packed model }
 *   GET  /jobs, GET /jobs/:id                     the validation file's path only with the operator token
 *   POST /jobs/:id/rounds              operator   { deadlineSeconds? } opens the next round
 *   GET  /jobs/:id/rounds/current                 what contributors need for the collecting round
 *   GET  /jobs/:id/rounds/latest, /jobs/:id/rounds/:round   round status
 *   POST /jobs/:id/rounds/:round/submissions      body: the sealed delta (application/octet-stream),
 *                                                 header x-dat-submission: base64url JSON of the signed submission;
 *                                                 authenticated from the header and Content-Length before
 *                                                 the body is read, the body limited to the job's sealed size;
 *                                                 a refusal answers with `Connection: close` and the body unread
 *   POST /jobs/:id/rounds/close        operator
 *   POST /jobs/:id/rounds/fail         operator   { reason }
 *   GET  /models/:cid                             packed model bytes; a gated job's (gate minimum > 0)
 *                                                 plaintext model only to the operator, registered
 *                                                 contributors and gate holders (signed challenge in
 *                                                 x-dat-challenge, or a session); sealed deltas to the
 *                                                 operator only (src/inference/modelAccess.ts)
 *
 * Bodies: JSON routes take the app's small limit; only POST /jobs (operator token checked on
 * the request's headers, before the body) and submissions (authenticated first) take large ones.
 *
 * Authentication: contributor requests are authenticated by their EIP-712 signatures (checked by
 * the orchestrator itself); operator requests need `Authorization: Bearer <operator.token>`
 * (config key operator.token or DAT_OPERATOR_TOKEN). Without a configured token the operator routes
 * are refused: run those commands in the server's home (embedded) instead.
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { DeniedError, MalformedInputError } from "../core/errors.js";
import type { CreateJobInput, JobInfo, Orchestrator } from "../orchestrator/types.js";
import { parseOrThrow } from "../orchestrator/schemas.js";
import { createJobInputSchema } from "../orchestrator/jobs.js";
import { SUBMISSION_HEADER } from "../orchestrator/http/constants.js";
import { ORCHESTRATOR_LIMIT_DEFAULTS, type DatConfig } from "../config/schema.js";

export interface OrchestratorRoutesOptions {
  orchestrator: Orchestrator;
  /** Operator bearer token; operator routes are refused when unset. */
  operatorToken?: string;
  /** Largest body of POST /jobs (the packed model, base64) and of a submission, bytes. */
  largeBodyLimit?: number;
  /**
   * Registrations per minute per IP and per address, and the page sizes of GET /nodes (config
   * orchestrator.*; each absent one takes its default).
   */
  limits?: Partial<ServerLimits>;
  /**
   * Checks a model download (GET /models/:cid) before any byte is sent: gated jobs' models only to
   * gate holders and the job's contributors, sealed deltas only to the operator.
   */
  modelAccess?: (req: FastifyRequest, cid: string, isOperator: () => Promise<boolean>) => Promise<void>;
}

/** What the submission route learned in onRequest, before the body. */
interface SubmissionAuth {
  submission: Record<string, unknown>;
  declared: number;
}

declare module "fastify" {
  interface FastifyRequest {
    datSubmission?: SubmissionAuth;
  }
}

/** The limits of config orchestrator.* that the routes apply themselves. */
export type ServerLimits = Pick<DatConfig["orchestrator"], "registrationsPerMinute" | "nodesPageSize" | "nodesPageMax">;

function nodesQuery(max: number) {
  return z.object({
    limit: z.coerce.number().int().min(1).max(max).optional(),
    after: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address").optional(),
  }).strict();
}

/** What a non-operator sees instead of the validation file's path. */
export const HIDDEN_PATH = "(on the orchestrator)";

const idParam = z.object({ id: z.coerce.number().int().positive() });
const roundParam = z.object({ id: z.coerce.number().int().positive(), round: z.coerce.number().int().positive() });

/**
 * Adds the orchestrator routes to `app` (in its own context, so they share the app's error
 * handler and its octet-stream parser).
 */
export function orchestratorRoutes(app: FastifyInstance, options: OrchestratorRoutesOptions): void {
  const orch = options.orchestrator;
  const operator = async (req: FastifyRequest): Promise<void> => {
    if (!options.operatorToken) {
      throw new DeniedError("This server has no operator token: operator calls are refused over HTTP.", {
        code: "OPERATOR_TOKEN_UNSET",
        hint: "Set one with dat config set operator.token <secret> (or DAT_OPERATOR_TOKEN) and restart dat serve.",
      });
    }
    const header = req.headers.authorization ?? "";
    const m = /^Bearer (.+)$/.exec(header);
    if (!m) throw new DeniedError("Operator call without a token.", { code: "OPERATOR_TOKEN_MISSING", hint: "Pass the operator token (DAT_OPERATOR_TOKEN)." });
    const given = Buffer.from(m[1]);
    const expected = Buffer.from(options.operatorToken);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new DeniedError("Wrong operator token.", { code: "OPERATOR_TOKEN_WRONG" });
    }
  };

  // POST /jobs takes large bodies: a wrong token is refused and the connection closed unread.
  const operatorBeforeBody = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      await operator(req);
    } catch (error) {
      closeAfterRefusal(req, reply);
      throw error;
    }
  };

  const isOperator = async (req: FastifyRequest) => {
    try {
      await operator(req);
      return true;
    } catch {
      return false;
    }
  };
  app.get("/health", async () => ({ ok: true, service: "dat-orchestrator" }));
  const limits: ServerLimits = {
    registrationsPerMinute: options.limits?.registrationsPerMinute ?? ORCHESTRATOR_LIMIT_DEFAULTS.registrationsPerMinute,
    nodesPageSize: options.limits?.nodesPageSize ?? ORCHESTRATOR_LIMIT_DEFAULTS.nodesPageSize,
    nodesPageMax: options.limits?.nodesPageMax ?? ORCHESTRATOR_LIMIT_DEFAULTS.nodesPageMax,
  };
  const perMinute = limits.registrationsPerMinute;
  // Per app, not per process: two servers in one process (tests) count apart.
  const registrationsByAddress = fixedWindowCounter(60_000);
  app.post("/nodes", {
    bodyLimit: 8 * 1024,
    config: {
      rateLimit: { max: perMinute, timeWindow: 60_000, keyGenerator: (req: FastifyRequest) => `nodes-ip:${req.ip}` },
    },
  }, async (req) => {
    const address = (req.body as { address?: unknown } | null)?.address;
    if (typeof address === "string") registrationsByAddress.hit(address.toLowerCase(), perMinute);
    const register = orch.registerNode as (reg: never, context?: { ip?: string }) => ReturnType<Orchestrator["registerNode"]>;
    return register.call(orch, req.body as never, { ip: req.ip });
  });
  const pageQuery = nodesQuery(limits.nodesPageMax);
  app.get("/nodes", async (req) => {
    const q = parseOrThrow(pageQuery, req.query ?? {}, "query");
    const limit = q.limit ?? Math.min(limits.nodesPageSize, limits.nodesPageMax);
    const nodes = await orch.listNodes({ limit, after: q.after });
    return { nodes, next: nodes.length === limit ? nodes.at(-1)!.address : null };
  });
  app.post("/jobs", { onRequest: operatorBeforeBody, bodyLimit: options.largeBodyLimit ?? 256 * 1024 * 1024 }, async (req) => {
    const body = parseOrThrow(z.object({ input: createJobInputSchema, model: z.string().min(1) }).strict(), req.body, "job request");
    // A plain Uint8Array copy: a pooled Buffer's .buffer is larger than its bytes.
    return orch.createJob(body.input as CreateJobInput, new Uint8Array(Buffer.from(body.model, "base64")));
  });
  // The public view hides the operator's file paths (the validation file); the operator sees them.
  const publicJob = async (req: FastifyRequest, job: JobInfo): Promise<JobInfo> =>
    !job.validation || (await isOperator(req)) ? job : { ...job, validation: { path: HIDDEN_PATH, labelColumn: job.validation.labelColumn } };
  app.get("/jobs", async (req) => Promise.all((await orch.listJobs()).map((j) => publicJob(req, j))));
  app.get("/jobs/:id", async (req) => publicJob(req, await orch.getJob(parseOrThrow(idParam, req.params, "path").id)));
  app.post("/jobs/:id/rounds", { onRequest: operator }, async (req) => {
    const { id } = parseOrThrow(idParam, req.params, "path");
    const body = parseOrThrow(z.object({ deadlineSeconds: z.number().positive().optional() }).strict(), req.body ?? {}, "round request");
    return orch.openRound(id, body);
  });
  app.get("/jobs/:id/rounds/current", async (req) => orch.currentRound(parseOrThrow(idParam, req.params, "path").id));
  app.get("/jobs/:id/rounds/latest", async (req) => orch.roundStatus(parseOrThrow(idParam, req.params, "path").id));
  app.post("/jobs/:id/rounds/close", { onRequest: operator }, async (req) => orch.closeRound(parseOrThrow(idParam, req.params, "path").id));
  app.post("/jobs/:id/rounds/fail", { onRequest: operator }, async (req) => {
    const { id } = parseOrThrow(idParam, req.params, "path");
    const body = parseOrThrow(z.object({ reason: z.string().min(1).max(1000) }).strict(), req.body, "fail request");
    return orch.failRound(id, body.reason);
  });
  app.get("/jobs/:id/rounds/:round", async (req) => {
    const p = parseOrThrow(roundParam, req.params, "path");
    return orch.roundStatus(p.id, p.round);
  });
  const largeBodyLimit = options.largeBodyLimit ?? 256 * 1024 * 1024;
  const authorize = (orch as { authorizeSubmission?: (s: never, bytes: number) => Promise<{ maxBytes: number }> }).authorizeSubmission;
  app.post("/jobs/:id/rounds/:round/submissions", {
    bodyLimit: largeBodyLimit,
    // Everything that needs no body, before fastify reads a byte of it: an unauthenticated or
    // oversized body is refused with the socket closed, never buffered.
    onRequest: async (req, reply) => {
      try {
        req.datSubmission = await authenticateSubmission(req, largeBodyLimit, authorize?.bind(orch));
      } catch (error) {
        closeAfterRefusal(req, reply);
        throw error;
      }
    },
  }, async (req) => {
    const { submission, declared } = req.datSubmission!;
    const body = req.body as NodeJS.ReadableStream | undefined;
    if (!body || typeof (body as { on?: unknown }).on !== "function") {
      throw new MalformedInputError("The body must be the sealed delta as application/octet-stream.", { code: "MALFORMED_REQUEST" });
    }
    const sealed = await readExactly(body, declared);
    return orch.submit(submission as never, sealed);
  });
  app.get("/models/:cid", async (req, reply) => {
    const { cid } = req.params as { cid: string };
    if (options.modelAccess) await options.modelAccess(req, cid, () => isOperator(req));
    const bytes = await orch.getModel(cid);
    return reply.type("application/octet-stream").send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

}

/**
 * Fixed-window counter per key, for limits keyed on the body (the address of a registration): the
 * rate-limit plugin keys on the request before the body is parsed.
 */
function fixedWindowCounter(windowMs: number) {
  let windowStart = 0;
  const counts = new Map<string, number>();
  return {
    hit(key: string, max: number): void {
      const now = Date.now();
      if (now - windowStart >= windowMs) {
        windowStart = now;
        counts.clear();
      }
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      if (n > max) {
        throw Object.assign(new DeniedError(`Rate limit reached: at most ${max} registrations per minute for ${key}.`, {
          code: "RATE_LIMITED",
          hint: "Retry in a minute, or ask the operator to raise orchestrator.registrationsPerMinute.",
        }), { statusCode: 429 });
      }
    },
  };
}

/**
 * The submission header and Content-Length, checked against the orchestrator before the body:
 * schema, signature, registration, round, duplicate, and a declared size within the job's limit.
 */
async function authenticateSubmission(
  req: FastifyRequest,
  maxBytes: number,
  authorize: ((s: never, bytes: number) => Promise<{ maxBytes: number }>) | undefined,
): Promise<SubmissionAuth> {
  const p = parseOrThrow(roundParam, req.params, "path");
  const length = req.headers["content-length"];
  const declared = typeof length === "string" && /^\d{1,15}$/.test(length) ? Number(length) : NaN;
  if (declared > maxBytes) {
    throw Object.assign(
      new MalformedInputError(`The sealed delta is ${declared} bytes, above this server's limit of ${maxBytes}.`, { code: "SUBMISSION_TOO_LARGE" }),
      { statusCode: 413 },
    );
  }
  const header = req.headers[SUBMISSION_HEADER];
  if (typeof header !== "string" || header.length > 16_384) {
    throw new MalformedInputError(`The request has no ${SUBMISSION_HEADER} header.`, { code: "MALFORMED_REQUEST" });
  }
  let submission: Record<string, unknown>;
  try {
    submission = JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new MalformedInputError(`The ${SUBMISSION_HEADER} header is not base64url JSON.`, { code: "MALFORMED_REQUEST" });
  }
  if (submission?.jobId !== p.id || submission?.round !== p.round) {
    throw new MalformedInputError("The submission's job and round differ from the URL's.", { code: "MALFORMED_REQUEST" });
  }
  if (!Number.isSafeInteger(declared) || req.headers["transfer-encoding"] !== undefined) {
    throw new MalformedInputError("A submission needs a Content-Length (no chunked bodies): its size is checked before it is read.", {
      code: "SUBMISSION_LENGTH_REQUIRED",
      hint: "Send the sealed delta as one body with its Content-Length.",
    });
  }
  if (!/^application\/octet-stream\b/i.test(req.headers["content-type"] ?? "")) {
    throw new MalformedInputError("The body must be the sealed delta as application/octet-stream.", { code: "MALFORMED_REQUEST" });
  }
  if (authorize) await authorize(submission as never, declared);
  return { submission, declared };
}

/** Reads a body stream into one buffer of exactly `length` bytes (more or fewer is refused). */
async function readExactly(stream: NodeJS.ReadableStream, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let at = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (at + chunk.length > length) {
      throw new MalformedInputError(`The body is longer than its Content-Length of ${length} bytes.`, { code: "SUBMISSION_LENGTH_MISMATCH" });
    }
    out.set(chunk, at);
    at += chunk.length;
  }
  if (at !== length) {
    throw new MalformedInputError(`The body ended after ${at} of ${length} bytes.`, { code: "SUBMISSION_LENGTH_MISMATCH" });
  }
  return out;
}

/** Bytes of an unread body a refused client may still push (discarded, never kept) before the cut. */
const LINGER_BYTES = 2 * 1024 * 1024;
/** How long a refused client has to close after reading its answer. */
const LINGER_MS = 1000;

/**
 * Ends the connection of a request refused from its headers, before its body was read. The answer
 * says `Connection: close`: node half-closes the socket once the answer is flushed (FIN after the
 * answer), so a client stops sending and closes as soon as it reads it. Node would also destroy the
 * socket right then; that is not done here, because bytes the client still has in flight would then
 * meet a reset, and a client busy writing its body (node's http client) gets EPIPE before it has
 * read the answer. Instead the read side discards (never keeps) what still arrives, until the
 * client closes, LINGER_BYTES arrived or LINGER_MS passed: then the socket is destroyed.
 */
export function closeAfterRefusal(req: FastifyRequest, reply: FastifyReply): void {
  void reply.header("connection", "close");
  reply.raw.once("finish", () => {
    const socket = req.raw.socket;
    if (!socket || socket.destroyed) return;
    // Node's own "finish" handler (resOnFinish) ran first: it put the request in discard mode and
    // asked for destroySoon(), which ends the socket and destroys it when the FIN is flushed.
    socket.off("finish", socket.destroy);
    const start = socket.bytesRead;
    const cut = (): void => {
      clearInterval(timer);
      socket.destroy();
    };
    const timer = setInterval(() => {
      if (socket.bytesRead - start > LINGER_BYTES) cut();
    }, 10);
    const deadline = setTimeout(cut, LINGER_MS);
    timer.unref();
    deadline.unref();
    socket.once("close", () => {
      clearInterval(timer);
      clearTimeout(deadline);
    });
  });
}
