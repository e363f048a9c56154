/**
 * The Orchestrator interface over HTTP (undici) against `dat serve`. Timeouts on every request;
 * retries with exponential backoff on connection faults only (refused, reset, connect timeout),
 * never on an answer: a 4xx/5xx is mapped back to the typed error the server raised.
 */
import { Agent, request, errors as undiciErrors } from "undici";
import { NetworkError } from "../../core/errors.js";
import type {
  CloseRoundResult, CreateJobInput, JobInfo, ModelAuth, NodeInfo, NodePage, NodeRegistration, Orchestrator, RoundInfo, RoundStatus,
  SignedSubmission, SubmissionReceipt,
} from "../types.js";
import { errorFromBody } from "../../core/errorBody.js";
import { MODEL_CHALLENGE_HEADER, SUBMISSION_HEADER } from "./constants.js";

export interface HttpOrchestratorOptions {
  /** Base URL of `dat serve`, e.g. http://127.0.0.1:8780 */
  url: string;
  /** Operator token for operator calls. */
  operatorToken?: string;
  /** Per-request timeout (headers and body), ms. */
  timeoutMs?: number;
  /** Attempts on connection faults (1 = no retry). */
  attempts?: number;
  /** First backoff, ms (doubled each retry). */
  backoffMs?: number;
}

const RETRYABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

/** Creates the HTTP orchestrator client. */
export function createHttpOrchestrator(options: HttpOrchestratorOptions): Orchestrator {
  return new HttpOrchestrator(options);
}

class HttpOrchestrator implements Orchestrator {
  private readonly base: string;
  private readonly agent: Agent;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(private readonly options: HttpOrchestratorOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new NetworkError(`"${options.url}" is not an orchestrator URL.`, { code: "ORCHESTRATOR_BAD_URL", hint: "Use http://host:port" });
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new NetworkError(`"${options.url}" is not an http(s) URL.`, { code: "ORCHESTRATOR_BAD_URL" });
    }
    this.base = parsed.toString().replace(/\/$/, "");
    const timeout = options.timeoutMs ?? 120_000;
    this.agent = new Agent({ headersTimeout: timeout, bodyTimeout: timeout, connectTimeout: Math.min(timeout, 10_000) });
    this.attempts = options.attempts ?? 4;
    this.backoffMs = options.backoffMs ?? 200;
  }

  registerNode(registration: NodeRegistration): Promise<NodeInfo> {
    return this.json("POST", "/nodes", registration);
  }
  /**
   * One page with `page`; without it every node, page by page in the server's own page size
   * (config orchestrator.nodesPageSize there; asking for more than its nodesPageMax is refused).
   */
  async listNodes(page?: NodePage): Promise<NodeInfo[]> {
    const get = (p: NodePage) => {
      const q = new URLSearchParams();
      if (p.limit !== undefined) q.set("limit", String(p.limit));
      if (p.after !== undefined) q.set("after", p.after);
      const qs = q.toString();
      return this.json<{ nodes: NodeInfo[]; next: string | null }>("GET", `/nodes${qs ? `?${qs}` : ""}`);
    };
    if (page) return (await get(page)).nodes;
    const all: NodeInfo[] = [];
    for (let after: string | undefined; ;) {
      const { nodes, next } = await get({ after });
      all.push(...nodes);
      if (!next) return all;
      after = next;
    }
  }
  createJob(input: CreateJobInput, model: Uint8Array): Promise<JobInfo> {
    return this.json("POST", "/jobs", { input, model: Buffer.from(model).toString("base64") }, true);
  }
  // With the operator token (when this client has one): the operator's view keeps its file paths.
  listJobs(): Promise<JobInfo[]> {
    return this.json("GET", "/jobs", undefined, true);
  }
  getJob(jobId: number): Promise<JobInfo> {
    return this.json("GET", `/jobs/${encodeURIComponent(jobId)}`, undefined, true);
  }
  openRound(jobId: number, options: { deadlineSeconds?: number } = {}): Promise<RoundInfo> {
    return this.json("POST", `/jobs/${encodeURIComponent(jobId)}/rounds`, options, true);
  }
  currentRound(jobId: number): Promise<RoundInfo> {
    return this.json("GET", `/jobs/${encodeURIComponent(jobId)}/rounds/current`);
  }
  async getModel(cid: string, auth?: ModelAuth): Promise<Uint8Array> {
    const path = `/models/${encodeURIComponent(cid)}`;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await this.send("GET", path, { headers: this.operatorHeaders() });
    } catch (error) {
      // A gated job's model: prove the address with a signed challenge, as inference does.
      const e = error as { code?: string; data?: { jobId?: unknown } };
      if (e.code !== "MODEL_AUTH_REQUIRED" || !auth || typeof e.data?.jobId !== "number") throw error;
      const challenge = await this.json<unknown>("GET", `/jobs/${e.data.jobId}/challenge?purpose=infer`);
      const signed = await auth.signChallenge(challenge);
      res = await this.send("GET", path, { headers: { [MODEL_CHALLENGE_HEADER]: Buffer.from(JSON.stringify(signed)).toString("base64url") } });
    }
    return new Uint8Array(await res.body.arrayBuffer());
  }
  async submit(submission: SignedSubmission, sealed: Uint8Array): Promise<SubmissionReceipt> {
    const header = Buffer.from(JSON.stringify(submission)).toString("base64url");
    const path = `/jobs/${encodeURIComponent(submission.jobId)}/rounds/${encodeURIComponent(submission.round)}/submissions`;
    try {
      const res = await this.send("POST", path, {
        headers: { "content-type": "application/octet-stream", [SUBMISSION_HEADER]: header },
        body: sealed,
      });
      return (await res.body.json()) as SubmissionReceipt;
    } catch (error) {
      // A retry after a lost answer meets our own first submission: that is a success, not a duplicate.
      if ((error as { code?: string }).code === "SUBMISSION_DUPLICATE") {
        const status = await this.roundStatus(submission.jobId, submission.round).catch(() => undefined);
        const mine = status?.submissions.find((s) => s.address.toLowerCase() === submission.address.toLowerCase());
        if (status && mine && mine.blobCid === submission.blobCid) {
          return { jobId: submission.jobId, round: submission.round, address: mine.address, blobCid: mine.blobCid, accepted: status.accepted, receivedAt: mine.receivedAt };
        }
      }
      throw error;
    }
  }
  roundStatus(jobId: number, round?: number): Promise<RoundStatus> {
    return this.json("GET", `/jobs/${encodeURIComponent(jobId)}/rounds/${round === undefined ? "latest" : encodeURIComponent(round)}`);
  }
  closeRound(jobId: number): Promise<CloseRoundResult> {
    return this.json("POST", `/jobs/${encodeURIComponent(jobId)}/rounds/close`, {}, true);
  }
  failRound(jobId: number, reason: string): Promise<CloseRoundResult> {
    return this.json("POST", `/jobs/${encodeURIComponent(jobId)}/rounds/fail`, { reason }, true);
  }
  async close(): Promise<void> {
    await this.agent.close();
  }

  private operatorHeaders(): Record<string, string> {
    return this.options.operatorToken ? { authorization: `Bearer ${this.options.operatorToken}` } : {};
  }

  private async json<T>(method: "GET" | "POST", path: string, body?: unknown, operator = false): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (operator && this.options.operatorToken) headers.authorization = `Bearer ${this.options.operatorToken}`;
    const res = await this.send(method, path, { headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await res.body.json()) as T;
  }

  private async send(
    method: "GET" | "POST",
    path: string,
    init: { headers?: Record<string, string>; body?: string | Uint8Array },
  ): Promise<Awaited<ReturnType<typeof request>>> {
    const url = this.base + path;
    for (let attempt = 1; ; attempt++) {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, { method, headers: init.headers, body: init.body, dispatcher: this.agent });
      } catch (error) {
        const code = (error as { code?: string }).code ?? "";
        if (RETRYABLE.has(code) && attempt < this.attempts) {
          await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
          continue;
        }
        const timedOut = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
        throw new NetworkError(
          timedOut ? `The orchestrator at ${this.base} did not answer in time.` : `Cannot reach the orchestrator at ${this.base}: ${(error as Error).message}`,
          { code: timedOut ? "ORCHESTRATOR_TIMEOUT" : "ORCHESTRATOR_UNREACHABLE", hint: "Is dat serve running there? Check --orchestrator.", cause: error, data: { url, attempts: attempt } },
        );
      }
      if (res.statusCode >= 400) {
        const text = await res.body.text();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        throw errorFromBody(res.statusCode, parsed, url);
      }
      return res;
    }
  }
}
