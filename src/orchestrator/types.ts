/**
 * The one typed Orchestrator interface. Two implementations pass the same contract tests:
 * `createEmbeddedOrchestrator` (in-process, over the SQLite database and blob store of a home)
 * and `createHttpOrchestrator` (undici client against `dat serve`).
 *
 * Authentication: contributor calls carry their own EIP-712 signature (registration, submission);
 * operator calls (createJob, openRound, closeRound, failRound) are trusted in-process and, over
 * HTTP, need the operator token as `Authorization: Bearer <token>`.
 */
import type { PrivacyReport } from "../core/privacy/spent.js";
import type { PreprocessSpec } from "../core/preprocess.js";
import type { RoundState } from "../core/round.js";

export type Hex = `0x${string}`;

/** Hyper-parameters the job imposes; a contributor may lower epochs and batch size, never raise. */
export interface HyperParams {
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: "sgd" | "adam";
}

/** What `dat job create` sends. Amounts are decimal strings of base units. */
export interface CreateJobInput {
  name?: string;
  rounds: number;
  minContributors: number;
  maxContributors?: number;
  deadlineSeconds: number;
  hyper: HyperParams;
  strategy: string;
  /** `--strategy-param` values, validated and defaulted by the strategy. */
  strategyParams?: Record<string, number | string>;
  dpClip?: number;
  dpNoise?: number;
  encoding: string;
  rewardPerRound?: string;
  /** Path of a validation file on the orchestrator's machine. */
  validationPath?: string;
  labelColumn?: string;
  gateToken?: Hex;
  /** Gate minimum in base units ("0": public); absent: one whole token with a minStake, public without (jobGate). */
  gateMin?: string;
  encryptModel?: boolean;
  /** Minimum stake in base units (decimal string); needs a chain. */
  minStake?: string;
  /** Cap on claimed sample counts as aggregation weights. */
  maxSamples?: number;
  /** The job's preprocessing with its statistics (`dat job create --normalize`); absent: none. */
  preprocess?: PreprocessSpec;
}

export interface RoundSummary {
  round: number;
  state: RoundState;
  modelCid: string | null;
  loss?: number;
  accuracy?: number;
  accepted?: number;
  failureReason?: string | null;
  /** DP jobs: ε at δ = 1e-5 after this round (worst case, see src/core/privacy/spent.ts); null = no guarantee. */
  epsilon?: number | null;
}

export interface JobInfo {
  id: number;
  name: string | null;
  initialModelCid: string;
  /** Current global model: the latest published round's model, else the initial one. */
  modelCid: string;
  fingerprint: Hex;
  rounds: number;
  minContributors: number;
  maxContributors: number | null;
  deadlineSeconds: number;
  hyper: HyperParams;
  strategy: string;
  strategyParams: Record<string, number>;
  dp: { clip: number; noise: number } | null;
  encoding: string;
  rewardPerRound: string;
  validation: { path: string; labelColumn: string } | null;
  /** min "0": public; null: one whole token of the gate token (the default of a job with a minimum stake). */
  gate: { token: Hex | null; min: string | null };
  encryptModel: boolean;
  /** The one input transform of the job: training, validation, inference and eval all apply it. */
  preprocess: PreprocessSpec;
  createdAt: number;
  /** Minimum stake in base units; null: no stake needed (a trusted group, no chain check). */
  minStake?: string | null;
  /** Cap on claimed sample counts as aggregation weights; null: only 2 × the round's median. */
  maxSamples?: number | null;
  /** Rounds published so far. */
  publishedRounds: number;
  /** Every round, in order (the learning curve). */
  history: RoundSummary[];
}

/** What a contributor needs to take part in the current round. */
export interface RoundInfo {
  jobId: number;
  round: number;
  state: RoundState;
  /** X25519 public key of the round, hex: deltas are sealed to it. */
  publicKey: Hex;
  /** The global model this round trains from. */
  modelCid: string;
  fingerprint: Hex;
  /** ms since the epoch. */
  deadline: number;
  hyper: HyperParams;
  strategy: string;
  strategyParams: Record<string, number>;
  encoding: string;
  dp: { clip: number; noise: number } | null;
  minContributors: number;
  maxContributors: number | null;
  /** The job's preprocessing: contributors train on preprocessed data, never their own statistics. */
  preprocess: PreprocessSpec;
}

/** The EIP-712 submission message. */
export interface SubmissionMessage {
  jobId: number;
  round: number;
  address: Hex;
  blobCid: string;
  sampleCount: number;
  metricsHash: Hex;
  fingerprint: Hex;
}

export interface SignedSubmission extends SubmissionMessage {
  signature: Hex;
}

/**
 * A node registration: the EIP-712 NodeRegistration message (node, hardwareHash, backend,
 * timestamp) with its signature, plus the metadata whose hash is `hardwareHash`
 * (hashNodeMetadata in src/orchestrator/nodeMetadata.ts), so the metadata is signed too.
 */
export interface NodeRegistration {
  address: Hex;
  backend: string;
  hardwareHash: Hex;
  /** Unix seconds, signed: a stale registration cannot be replayed much later. */
  timestamp: number;
  metadata: Record<string, unknown>;
  signature: Hex;
}

export interface NodeInfo {
  address: Hex;
  metadata: Record<string, unknown>;
  registeredAt: number;
  /** When the node was last heard from (its signed re-registration is its heartbeat), ms. */
  lastSeenAt?: number;
  /** Rounds with a submission of this node that was not rejected, all jobs. */
  roundsContributed?: number;
}

/** Signs a model-download challenge (the typed data GET /jobs/:id/challenge returns) with the caller's wallet. */
export interface ModelAuth {
  signChallenge(challenge: unknown): Promise<unknown>;
}

/** A page of the node list: at most `limit` nodes (default 100, at most 500) after the address `after`. */
export interface NodePage {
  limit?: number;
  after?: string;
}

export interface SubmissionReceipt {
  jobId: number;
  round: number;
  address: Hex;
  blobCid: string;
  /** Accepted submissions in the round after this one. */
  accepted: number;
  receivedAt: number;
}

export interface SubmissionView {
  address: Hex;
  blobCid: string;
  sampleCount: number;
  status: "accepted" | "aggregated" | "rejected";
  rejectReason: string | null;
  score: number | null;
  receivedAt: number;
}

export interface RoundStatus {
  jobId: number;
  round: number;
  state: RoundState;
  publicKey: Hex;
  baseModelCid: string;
  modelCid: string | null;
  deadline: number;
  openedAt: number;
  closedAt: number | null;
  failureReason: string | null;
  metrics: Record<string, unknown> | null;
  minContributors: number;
  accepted: number;
  submissions: SubmissionView[];
  /**
   * DP jobs: ε (δ = 1e-5) spent by a contributor who took part in every round up to this one,
   * sampling rate 1 (see src/core/privacy/spent.ts); null for jobs without DP.
   */
  privacy?: PrivacyReport | null;
}

export interface ContributionScore {
  address: Hex;
  sampleCount: number;
  score: number;
}

/** The outcome of closing a round. */
export interface CloseRoundResult {
  jobId: number;
  round: number;
  state: RoundState;
  modelCid: string | null;
  failureReason: string | null;
  metrics: Record<string, unknown> | null;
  scores: ContributionScore[];
  rejected: { address: Hex; reason: string }[];
}

export interface Orchestrator {
  /** Registers (or refreshes) a contributor from its signed registration. */
  registerNode(registration: NodeRegistration): Promise<NodeInfo>;
  /** Every node; with `page`, one page of nodes ordered by address (HTTP: GET /nodes?limit=&after=). */
  listNodes(page?: NodePage): Promise<NodeInfo[]>;
  /** Operator: creates a job from its settings and the packed initial model (packModel bytes). */
  createJob(input: CreateJobInput, model: Uint8Array): Promise<JobInfo>;
  listJobs(): Promise<JobInfo[]>;
  getJob(jobId: number): Promise<JobInfo>;
  /** Operator: opens the job's next round (fresh key pair, current global model, deadline). */
  openRound(jobId: number, options?: { deadlineSeconds?: number }): Promise<RoundInfo>;
  /** The job's collecting round. NotFoundError (ROUND_NOT_OPEN) when none is collecting. */
  currentRound(jobId: number): Promise<RoundInfo>;
  /**
   * Bytes of a model blob (a packed model); the caller checks them against the CID. A gated job's
   * model is served over HTTP only to a proven contributor or gate holder: `auth` signs the
   * server's challenge when it asks for one.
   */
  getModel(cid: string, auth?: ModelAuth): Promise<Uint8Array>;
  /** Submits a signed submission with its sealed delta. Acknowledged only once durable. */
  submit(submission: SignedSubmission, sealed: Uint8Array): Promise<SubmissionReceipt>;
  /** A round's state and submissions (the latest round when `round` is omitted). */
  roundStatus(jobId: number, round?: number): Promise<RoundStatus>;
  /** Operator: closes the collecting round (or resumes an aggregating one) and publishes it. */
  closeRound(jobId: number): Promise<CloseRoundResult>;
  /** Operator: fails the active round with a reason. */
  failRound(jobId: number, reason: string): Promise<CloseRoundResult>;
  /** Releases what the implementation holds (database, connections). */
  close(): Promise<void>;
}
