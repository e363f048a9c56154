/**
 * The orchestrator routes of `dat serve`: the Orchestrator interface behind HTTP.
 *
 * Routes (JSON unless said otherwise; errors are `{ error: { kind, code, message, hint } }`):
 *   GET  /health                                  liveness
 *   POST /nodes                                   signed node registration
 *   GET  /nodes
 *   POST /jobs                         operator   { input: CreateJobInput, model: base64 packed model }
 *   GET  /jobs, GET /jobs/:id
 *   POST /jobs/:id/rounds              operator   { deadlineSeconds? } opens the next round
 *   GET  /jobs/:id/rounds/current                 what contributors need for the collecting round
 *   GET  /jobs/:id/rounds/latest, /jobs/:id/rounds/:round   round status
 *   POST /jobs/:id/rounds/:round/submissions      body: the sealed delta (application/octet-stream),
 *                                                 header x-dat-submission: base64url JSON of the signed submission
 *   POST /jobs/:id/rounds/close        operator
 *   POST /jobs/:id/rounds/fail         operator   { reason }
 *   GET  /models/:cid                             packed model bytes
 *
 * Authentication: contributor requests are authenticated by their EIP-712 signatures (checked by
 * the orchestrator itself); operator requests need `Authorization: Bearer <operator.token>`
 * (config key operator.token or DAT_OPERATOR_TOKEN). Without a configured token the operator routes
 * are refused: run those commands in the server's home (embedded) instead.
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { DeniedError, MalformedInputError } from "../core/errors.js";
import type { CreateJobInput, Orchestrator } from "../orchestrator/types.js";
import { parseOrThrow } from "../orchestrator/schemas.js";
import { createJobInputSchema } from "../orchestrator/jobs.js";
import { SUBMISSION_HEADER } from "../orchestrator/http/constants.js";

export interface OrchestratorRoutesOptions {
  orchestrator: Orchestrator;
  /** Operator bearer token; operator routes are refused when unset. */
  operatorToken?: string;
}

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

  app.get("/health", async () => ({ ok: true, service: "dat-orchestrator" }));
  app.post("/nodes", async (req) => orch.registerNode(req.body as never));
  app.get("/nodes", async () => orch.listNodes());
  app.post("/jobs", { preHandler: operator }, async (req) => {
    const body = parseOrThrow(z.object({ input: createJobInputSchema, model: z.string().min(1) }).strict(), req.body, "job request");
    // A plain Uint8Array copy: a pooled Buffer's .buffer is larger than its bytes.
    return orch.createJob(body.input as CreateJobInput, new Uint8Array(Buffer.from(body.model, "base64")));
  });
  app.get("/jobs", async () => orch.listJobs());
  app.get("/jobs/:id", async (req) => orch.getJob(parseOrThrow(idParam, req.params, "path").id));
  app.post("/jobs/:id/rounds", { preHandler: operator }, async (req) => {
    const { id } = parseOrThrow(idParam, req.params, "path");
    const body = parseOrThrow(z.object({ deadlineSeconds: z.number().positive().optional() }).strict(), req.body ?? {}, "round request");
    return orch.openRound(id, body);
  });
  app.get("/jobs/:id/rounds/current", async (req) => orch.currentRound(parseOrThrow(idParam, req.params, "path").id));
  app.get("/jobs/:id/rounds/latest", async (req) => orch.roundStatus(parseOrThrow(idParam, req.params, "path").id));
  app.post("/jobs/:id/rounds/close", { preHandler: operator }, async (req) => orch.closeRound(parseOrThrow(idParam, req.params, "path").id));
  app.post("/jobs/:id/rounds/fail", { preHandler: operator }, async (req) => {
    const { id } = parseOrThrow(idParam, req.params, "path");
    const body = parseOrThrow(z.object({ reason: z.string().min(1).max(1000) }).strict(), req.body, "fail request");
    return orch.failRound(id, body.reason);
  });
  app.get("/jobs/:id/rounds/:round", async (req) => {
    const p = parseOrThrow(roundParam, req.params, "path");
    return orch.roundStatus(p.id, p.round);
  });
  app.post("/jobs/:id/rounds/:round/submissions", async (req) => {
    const p = parseOrThrow(roundParam, req.params, "path");
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
    if (!Buffer.isBuffer(req.body)) {
      throw new MalformedInputError("The body must be the sealed delta as application/octet-stream.", { code: "MALFORMED_REQUEST" });
    }
    // A view, not a copy: the sealed delta can be large, and nothing keeps it past this request.
    return orch.submit(submission as never, new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength));
  });
  app.get("/models/:cid", async (req, reply) => {
    const { cid } = req.params as { cid: string };
    const bytes = await orch.getModel(cid);
    return reply.type("application/octet-stream").send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

}
