/**
 * The server side of token-gated inference, shared by the HTTP routes (`dat serve`) and by
 * in-process use: issues challenges, opens short sessions, checks the gate, keeps models warm,
 * runs predictions and releases model keys.
 */
import type { PreprocessSpec } from "../core/preprocess.js";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type Database from "better-sqlite3";
import type * as tfTypes from "@tensorflow/tfjs";
import { getAddress, type Address } from "viem";
import type { DatConfig } from "../config/schema.js";
import { DeniedError, MalformedInputError, UserError, type ErrorCode } from "../core/errors.js";
import { issueChallenge, verifyChallenge, type ChallengePurpose, type ChallengeTypedData } from "./challenge.js";
import { checkGate, createBalanceReader, type BalanceReader, type GateResult } from "./gate.js";
import { BINARY_INPUT_FORMATS, concatInputs, detectFormat, INPUT_FORMATS, parseInputs, parseJsonValue, toPredictions, type InputFormat, type InputSpec, type ParsedInputs, type Prediction } from "./inputs.js";
import { ModelCache, tfModelWeightBytes } from "./modelCache.js";
import { decryptModelBlob, isEncryptedModelBlob, lookupModelKey } from "./modelKeys.js";
import { resolveInferenceJob, type InferenceJob } from "./jobs.js";

/** The store operation inference needs (BlobStore satisfies it). */
export interface BlobGet {
  get(cid: string): Promise<Uint8Array>;
}

export interface InferenceEngineOptions {
  db: Database.Database;
  store: BlobGet;
  config: DatConfig;
  /** Balance reader (tests, benchmarks); else one over config.chain.rpcUrl with infer.balanceCacheSeconds. */
  balances?: BalanceReader;
  /** Chain id for challenges and the default gate token; else config.chain.chainId, else asked of the RPC. */
  chainId?: number;
  /** Job lookup; by default the orchestrator's jobs and rounds tables. */
  resolveJob?: (jobId: string, chainId: number | undefined) => InferenceJob | Promise<InferenceJob>;
  /** Seconds a session token stays valid (the balance is still checked on every request). */
  sessionSeconds?: number;
}

/** An input file as sent over HTTP: text, or base64 for PNG. */
export interface InputFile {
  format?: InputFormat;
  name?: string;
  data: string;
  encoding?: "utf8" | "base64";
}

/** Inputs of one request: parsed JSON inputs and/or files. */
export interface InferInputs {
  inputs?: unknown;
  files?: InputFile[];
}

/** How a caller proves its address: a signed challenge (one use) or a session token. */
export interface InferAuth {
  challenge?: unknown;
  session?: string;
}

export interface InferResult {
  jobId: string;
  modelCid: string;
  round: number;
  /** The proven address, absent for a public (ungated) job. */
  address?: Address;
  predictions: Prediction[];
}

export interface SessionResult {
  token: string;
  address: Address;
  jobId: string;
  expiresAt: number;
}

export interface ModelKeyResult {
  jobId: string;
  modelCid: string;
  round: number;
  /** AES-256-GCM key, base64. */
  key: string;
  /** The job's preprocessing, so a consumer running the model locally transforms inputs as training did. */
  preprocess?: PreprocessSpec;
}

type LayersModel = tfTypes.LayersModel;

const MAX_VERIFIED_SESSIONS = 10_000;
let predictModule: Promise<typeof import("./predict.js")> | undefined;

export class InferenceEngine {
  private readonly db: Database.Database;
  private readonly store: BlobGet;
  readonly config: DatConfig;
  private readonly models: ModelCache<LayersModel>;
  private readonly sessionSecret = randomBytes(32);
  private readonly sessionSeconds: number;
  private balances?: BalanceReader;
  private chainIdValue?: number;
  private chainPromise?: Promise<void>;
  private readonly shapes = new Map<string, number[]>();
  /**
   * Session tokens whose HMAC already checked out, with their claims: a busy caller's requests then
   * cost a map lookup, not an HMAC, a JSON parse and an address checksum each (≈ 25 µs, a tenth of
   * a small model's prediction). Only verified tokens enter; job and expiry are still checked on
   * every request. Cleared when full, so a flood of distinct tokens cannot grow it.
   */
  private readonly verifiedSessions = new Map<string, { address: Address; jobId: string; expiresAt: number }>();

  constructor(private readonly options: InferenceEngineOptions) {
    this.db = options.db;
    this.store = options.store;
    this.config = options.config;
    this.balances = options.balances;
    this.chainIdValue = options.chainId ?? options.config.chain.chainId;
    this.sessionSeconds = options.sessionSeconds ?? 300;
    this.models = new ModelCache<LayersModel>({
      budgetBytes: Math.round(options.config.infer.modelCacheMegabytes * 1024 * 1024),
      sizeOf: tfModelWeightBytes,
    });
  }

  /** Cache figures (for status endpoints and benchmarks). */
  cacheStats() {
    return this.models.stats();
  }

  /** Issue a challenge for `purpose` on `jobId` (the job must exist). */
  async challenge(jobId: string, purpose: ChallengePurpose, audience: string): Promise<ChallengeTypedData> {
    await this.job(jobId);
    const chainId = await this.chainId();
    return issueChallenge(this.db, { jobId, purpose, audience, chainId, ttlSeconds: this.config.infer.challengeTtlSeconds });
  }

  /**
   * Trade a signed "infer" challenge for a session token: later requests send the token instead
   * of a fresh signature. The balance is checked now and again on every request.
   */
  async openSession(jobId: string, challenge: unknown): Promise<SessionResult & { gate: GateResult | null }> {
    const job = await this.job(jobId);
    const address = await verifyChallenge(this.db, challenge, { jobId, purpose: "infer" });
    const gate = await this.checkJobGate(job, address);
    const expiresAt = Math.floor(Date.now() / 1000) + this.sessionSeconds;
    return { token: this.signSession(address, jobId, expiresAt), address, jobId, expiresAt, gate };
  }

  /**
   * Who is calling and may it use the job's model? A public job needs no proof. Throws DeniedError
   * for a missing, bad or spent proof and for a balance below the threshold.
   */
  async authorize(job: InferenceJob, auth: InferAuth, purpose: ChallengePurpose): Promise<{ address?: Address; gate: GateResult | null }> {
    if (!job.gate && purpose === "infer") return { gate: null };
    let address: Address;
    if (auth.session !== undefined && purpose === "infer") {
      address = this.verifySession(auth.session, job.id);
    } else if (auth.challenge !== undefined) {
      address = await verifyChallenge(this.db, auth.challenge, { jobId: job.id, purpose });
    } else {
      throw new DeniedError(`Job ${job.id}'s model is token-gated: prove your address with a signed challenge.`, {
        code: "AUTH_REQUIRED",
        hint: `GET /jobs/${job.id}/challenge, sign it (EIP-712), and send it as "challenge" (or open a session).`,
      });
    }
    return { address, gate: await this.checkJobGate(job, address) };
  }

  /** The address's session token claims, checked (HMAC, job, expiry). */
  verifySession(token: string, jobId: string): Address {
    const bad = (why: string, code: ErrorCode = "SESSION_INVALID") =>
      new DeniedError(`The session token ${why}.`, { code, hint: "Open a new session with a fresh signed challenge." });
    if (typeof token !== "string" || token.length > 400) throw bad("is malformed");
    let session = this.verifiedSessions.get(token);
    if (!session) {
      const [payload, mac] = token.split(".");
      if (!payload || !mac) throw bad("is malformed");
      const expected = createHmac("sha256", this.sessionSecret).update(payload).digest();
      const given = Buffer.from(mac, "base64url");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw bad("was not issued by this server");
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { a: string; j: string; e: number };
      session = { address: getAddress(claims.a), jobId: claims.j, expiresAt: claims.e };
      if (this.verifiedSessions.size >= MAX_VERIFIED_SESSIONS) this.verifiedSessions.clear();
      this.verifiedSessions.set(token, session);
    }
    if (session.jobId !== jobId) throw bad(`is for job ${session.jobId}, not job ${jobId}`, "SESSION_WRONG_JOB");
    if (Math.floor(Date.now() / 1000) > session.expiresAt) throw bad("expired", "SESSION_EXPIRED");
    return session.address;
  }

  /** Run the job's model on the inputs, after the gate. */
  async infer(jobId: string, auth: InferAuth, payload: InferInputs): Promise<InferResult> {
    const job = await this.job(jobId);
    const { address } = await this.authorize(job, auth, "infer");
    return this.run(job, payload, address);
  }

  /** Run the job's model on the inputs of a caller already authorized. */
  async run(job: InferenceJob, payload: InferInputs, address: Address | undefined): Promise<InferResult> {
    const lease = await this.models.acquire(job.modelCid, () => this.loadModel(job));
    try {
      // Loaded on first use (it pulls in tfjs), then reused: import() per request is not free.
      const { predictBatch, modelInputShape } = await (predictModule ??= import("./predict.js"));
      let shape = this.shapes.get(job.modelCid);
      if (!shape) {
        shape = modelInputShape(lease.model);
        this.shapes.set(job.modelCid, shape);
      }
      const spec: InputSpec = { shape, labelColumn: job.labelColumn, columns: job.columns, maxBatch: this.config.infer.maxBatch };
      const inputs = parsePayload(payload, spec);
      const output = await predictBatch(lease.model, inputs, job.preprocess);
      return {
        jobId: job.id,
        modelCid: job.modelCid,
        round: job.round,
        ...(address ? { address } : {}),
        predictions: toPredictions(output, inputs.count, inputs.sources, job.classNames),
      };
    } finally {
      lease.release();
    }
  }

  /**
   * Release the key of the job's encrypted model after the challenge-and-balance check
   * (purpose "model-key"). A job whose model is not encrypted has no key to release.
   */
  async releaseModelKey(jobId: string, challenge: unknown): Promise<ModelKeyResult> {
    const job = await this.job(jobId);
    if (challenge === undefined) {
      throw new DeniedError("A signed model-key challenge is required.", { code: "AUTH_REQUIRED", hint: `GET /jobs/${jobId}/challenge?purpose=model-key and sign it.` });
    }
    await this.authorize(job, { challenge }, "model-key");
    const key = lookupModelKey(this.db, job.id, job.modelCid);
    if (!key) {
      throw new UserError(`Job ${job.id}'s model ${job.modelCid} is not encrypted: there is no key to release.`, {
        code: "MODEL_NOT_ENCRYPTED",
        hint: "Fetch the model directly (dat model pull).",
      });
    }
    return {
      jobId: job.id, modelCid: job.modelCid, round: job.round, key: Buffer.from(key).toString("base64"),
      ...(job.preprocess ? { preprocess: job.preprocess } : {}),
    };
  }

  /** Dispose every loaded model. */
  close(): void {
    this.models.clear();
  }

  /** The job's inference view. */
  async job(jobId: string): Promise<InferenceJob> {
    const chainId = this.chainIdValue;
    if (this.options.resolveJob) return this.options.resolveJob(jobId, chainId);
    try {
      return resolveInferenceJob(this.db, jobId, this.config, chainId);
    } catch (error) {
      // The default gate token is per chain: learn the chain id once, then try again.
      if ((error as { code?: string }).code === "GATE_NOT_CONFIGURED" && chainId === undefined) {
        return resolveInferenceJob(this.db, jobId, this.config, await this.chainId());
      }
      throw error;
    }
  }

  /** The gate check alone, for an address already proven (the model download route). */
  gateFor(job: InferenceJob, address: Address): Promise<GateResult | null> {
    return this.checkJobGate(job, address);
  }

  private async checkJobGate(job: InferenceJob, address: Address): Promise<GateResult | null> {
    if (!job.gate) return null;
    const reader = await this.reader();
    const min = job.gate.min ?? 10n ** BigInt((await reader.tokenInfo(job.gate.token)).decimals);
    return checkGate(reader, { token: job.gate.token, min }, address, job.id);
  }

  private async reader(): Promise<BalanceReader> {
    if (!this.balances) await this.connect();
    return this.balances!;
  }

  private async chainId(): Promise<number> {
    if (this.chainIdValue === undefined) await this.connect();
    return this.chainIdValue!;
  }

  private connect(): Promise<void> {
    this.chainPromise ??= (async () => {
      const { connectChain } = await import("../chain/clients.js");
      const connection = await connectChain({ rpcUrl: this.config.chain.rpcUrl, expectedChainId: this.config.chain.chainId, timeoutMs: 5000 });
      this.chainIdValue ??= connection.chainId;
      this.balances ??= createBalanceReader(connection.publicClient, { cacheSeconds: this.config.infer.balanceCacheSeconds });
    })();
    this.chainPromise.catch(() => { this.chainPromise = undefined; });
    return this.chainPromise;
  }

  private async loadModel(job: InferenceJob): Promise<LayersModel> {
    let bytes = await this.store.get(job.modelCid);
    if (isEncryptedModelBlob(bytes)) {
      const key = lookupModelKey(this.db, job.id, job.modelCid);
      if (!key) throw new UserError(`Model ${job.modelCid} is encrypted and this orchestrator holds no key for it.`, { code: "MODEL_KEY_MISSING" });
      bytes = decryptModelBlob(bytes, key);
    }
    const { unpackModel } = await import("../train/modelIo.js");
    return unpackModel(bytes);
  }

  private signSession(address: Address, jobId: string, expiresAt: number): string {
    const payload = Buffer.from(JSON.stringify({ a: address, j: jobId, e: expiresAt })).toString("base64url");
    const mac = createHmac("sha256", this.sessionSecret).update(payload).digest("base64url");
    return `${payload}.${mac}`;
  }
}

/** Parse a request's inputs (JSON inputs and/or files) into one batch. */
export function parsePayload(payload: InferInputs, spec: InputSpec): ParsedInputs {
  const parts: ParsedInputs[] = [];
  if (payload.inputs !== undefined) parts.push(parseJsonValue(payload.inputs, spec));
  (payload.files ?? []).forEach((file, i) => {
    const name = file.name ?? `files[${i}]`;
    if (file.format !== undefined && !INPUT_FORMATS.includes(file.format)) {
      throw new MalformedInputError(`${name}: unknown format ${JSON.stringify(file.format)}.`, { code: "INPUT_FORMAT", hint: `Use one of: ${INPUT_FORMATS.join(", ")}.` });
    }
    const encoding = file.encoding ?? (file.format !== undefined && BINARY_INPUT_FORMATS.includes(file.format) ? "base64" : "utf8");
    const bytes = new Uint8Array(Buffer.from(file.data, encoding));
    parts.push(parseInputs(bytes, file.format ?? detectFormat(name, bytes), spec, name));
  });
  if (parts.length === 0) {
    throw new MalformedInputError("The request has no inputs.", { code: "INPUT_EMPTY", hint: 'Send "inputs" (JSON) or "files" ([{format, data}]).' });
  }
  return parts.length === 1 ? parts[0] : concatInputs(parts, spec);
}
