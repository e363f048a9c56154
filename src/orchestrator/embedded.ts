/**
 * The embedded orchestrator: the Orchestrator interface in-process, over the SQLite database and
 * the blob store of a home. `dat serve` wraps exactly this behind HTTP, so both pass one contract.
 *
 * Durability: a submission is acknowledged only after its sealed blob is in the store and its row
 * is committed. Closing is idempotent: a round moves to "aggregating" first, everything the close
 * computes is written in ONE transaction at the end (scores, statuses, server optimizer state,
 * round published), so a crash mid-close leaves an aggregating round that the next close redoes
 * from the same inputs; nothing is ever aggregated into two models.
 */
import type { PreprocessSpec } from "../core/preprocess.js";
import type Database from "better-sqlite3";
import { DatError, DeniedError, MalformedInputError, NotFoundError, UserError, isRetryable } from "../core/errors.js";
import { acceptsSubmissions, isActive } from "../core/round.js";
import { openDatabase } from "../db/index.js";
import * as jobsDb from "../db/jobs.js";
import * as nodesDb from "../db/nodes.js";
import * as roundsDb from "../db/rounds.js";
import * as subsDb from "../db/submissions.js";
import { loadDeps, type OrchestratorDeps, type RoundRecipientKey } from "./deps.js";
import { readModelBlob } from "./modelBlob.js";
import { hashNodeMetadata } from "./nodeMetadata.js";
import { parseEncoding } from "../core/delta/encoding.js";
import { HEADER_BYTES, alignUp, payloadSize } from "../core/delta/format.js";
import { privacySpent } from "../core/privacy/spent.js";
import { resolveJobInput } from "./jobs.js";
import { checkBlobSize, checkCommit, checkDelta, checkEnvelope, checkIdentity, checkStake, duplicateSubmission, notOnchain } from "./intake.js";
import { recordStakeOpening, stakeFacts, stakeOpening, type StakeOracle } from "./stake.js";
import { getJobEcon, saveJobEcon } from "../db/econ.js";
import { RoundEventBus } from "./events.js";
import { aggregateRound, normBound, type AggregateRoundOutcome } from "./aggregateRound.js";
import { jobGate, modelIsPrivate, privateModelStore, recordModelKey, sealModel } from "../inference/modelKeys.js";
import type { BlobStore, StoreConfig } from "../store/index.js";
import { cidForBytes } from "../store/cid.js";
import { ORCHESTRATOR_LIMIT_DEFAULTS, type DatConfig } from "../config/schema.js";
import {
  nodeRegistrationSchema, signedSubmissionSchema, parseOrThrow,
} from "./schemas.js";
import type {
  CloseRoundResult, CreateJobInput, Hex, HyperParams, JobInfo, NodeInfo, NodePage, NodeRegistration, Orchestrator, RoundInfo, RoundStatus,
  SignedSubmission, SubmissionReceipt,
} from "./types.js";

export interface EmbeddedOrchestratorOptions {
  home: string;
  /**
   * The resolved config when the caller already loaded it: it names the store and, with its
   * `orchestrator` group (DatConfig), the registration limits; else the store is read from the home.
   */
  config?: StoreConfig & { orchestrator?: Partial<RegistrationLimits> };
  /** Clock, ms since the epoch (tests move time forward). */
  now?: () => number;
  /** Largest sealed delta accepted, bytes. */
  maxBlobBytes?: number;
  /** How old a node registration's timestamp may be, ms. */
  registrationMaxAgeMs?: number;
  /**
   * Bytes of opened (decrypted) deltas kept in memory from submit to close, so the close does not
   * read and open each sealed blob a second time. 0 disables; a restart simply starts empty.
   */
  openedCacheBytes?: number;
  /**
   * When set, only addresses it reports as registered on-chain may register or submit
   * (`dat serve --onchain`, config orchestrator.requireOnchain); see onchain.ts.
   */
  isRegistered?: (address: Hex) => Promise<boolean>;
  /** Nodes that may register without on-chain registration, in all (over config orchestrator.maxNodes). */
  maxNodes?: number;
  /** Nodes that may register from one IP without on-chain registration (over config orchestrator.maxNodesPerIp). */
  maxNodesPerIp?: number;
  /** The chain's stakes, for jobs with a minimum stake (stake.ts); without it such jobs refuse submissions. */
  staking?: StakeOracle;
}

/** The registration limits of config orchestrator.* that the embedded orchestrator enforces. */
export type RegistrationLimits = Pick<DatConfig["orchestrator"], "maxNodes" | "maxNodesPerIp" | "nodesPageSize" | "nodesPageMax">;

/** Bytes of a node's metadata JSON: hardware, backend, version fit in far less. */
export const MAX_METADATA_BYTES = 1024;

/** The limits from the options, else the config, else the defaults. */
function registrationLimits(options: EmbeddedOrchestratorOptions): RegistrationLimits {
  const configured = options.config?.orchestrator ?? {};
  const pick = (key: keyof RegistrationLimits): number => configured[key] ?? ORCHESTRATOR_LIMIT_DEFAULTS[key];
  return {
    maxNodes: options.maxNodes ?? pick("maxNodes"),
    maxNodesPerIp: options.maxNodesPerIp ?? pick("maxNodesPerIp"),
    nodesPageSize: pick("nodesPageSize"),
    nodesPageMax: pick("nodesPageMax"),
  };
}

export const DEFAULT_MAX_BLOB_BYTES = 256 * 1024 * 1024;
/** Job rows kept in memory at most (see jobRows). */
const MAX_CACHED_JOBS = 256;
/** Round keys kept in memory at most (one per collecting round: a few in practice). */
const MAX_ROUND_KEYS = 64;
/** The sealed-blob layout of src/crypto/hpke.ts: 56-byte header, a 16-byte GCM tag per chunk of at least 1 KiB. */
const SEAL_HEADER_BYTES = 56;
const SEAL_TAG_BYTES = 16;
const SEAL_MIN_CHUNK = 1024;

/** Opens the embedded orchestrator of a home (database migrated, store opened). */
export async function createEmbeddedOrchestrator(options: EmbeddedOrchestratorOptions): Promise<EmbeddedOrchestrator> {
  const deps = await loadDeps();
  const db = openDatabase(options.home);
  try {
    // Private (gated, --encrypt-model) models are stored only encrypted and read back by plaintext CID.
    const store = privateModelStore(db, await deps.openStore(options.home, options.config));
    return new EmbeddedOrchestrator(db, store, deps, options);
  } catch (error) {
    db.close();
    throw error;
  }
}

export class EmbeddedOrchestrator implements Orchestrator {
  private readonly now: () => number;
  private readonly maxBlobBytes: number;
  private readonly registrationMaxAgeMs: number;
  /** Registration caps and page sizes (config orchestrator.*). */
  readonly limits: RegistrationLimits;
  /** Closes in flight in this process, per job, so concurrent callers share one. */
  private readonly closing = new Map<number, Promise<CloseRoundResult>>();
  /** Opened deltas by `job/round/blobCid` (see openedCacheBytes); insertion order = eviction order. */
  private readonly opened = new Map<string, Uint8Array>();
  private openedBytes = 0;
  private readonly openedCacheBytes: number;
  /** Collecting rounds' private keys, imported once, by `job/round`; dropped when the round closes or fails. */
  private readonly roundKeys = new Map<string, { privateKey: string; key: RoundRecipientKey }>();
  /**
   * Largest sealed delta per job (impliedSealedBytes): the promise, so that a round's submissions
   * arriving at once read the job's model once, not once each.
   */
  private readonly sealedLimits = new Map<number, Promise<number>>();
  /**
   * Job rows by id. A job row never changes once createJob committed it (nothing in src/db updates
   * jobs afterwards), so intake reads it once per job instead of once per submission.
   */
  private readonly jobRows = new Map<number, jobsDb.JobRow>();
  /**
   * Submissions that passed every check that needs no body (authorizeSubmission, from dat serve's
   * headers), keyed by the submission object the caller passes to submit() next, with what those
   * checks found: submit() then verifies the signature once, not twice. Only the parsed copy the
   * checks ran on is used, so a change to the caller's object after authorization counts for nothing.
   */
  private readonly authorized = new WeakMap<object, Authorized>();
  /** Round events (opened, submissions, closed, aggregated), recorded in the database; see events.ts. */
  readonly events: RoundEventBus;

  constructor(
    readonly db: Database.Database,
    readonly store: BlobStore,
    private readonly deps: OrchestratorDeps,
    readonly options: EmbeddedOrchestratorOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    this.registrationMaxAgeMs = options.registrationMaxAgeMs ?? 24 * 3600 * 1000;
    this.limits = registrationLimits(options);
    this.openedCacheBytes = options.openedCacheBytes ?? 128 * 1024 * 1024;
    this.events = new RoundEventBus(db, this.now);
  }

  /**
   * @param context where the registration came from (`dat serve` passes the client IP): free
   * registrations are capped per IP (maxNodesPerIp) and in all (maxNodes).
   */
  async registerNode(registration: NodeRegistration, context: { ip?: string } = {}): Promise<NodeInfo> {
    const reg = parseOrThrow(nodeRegistrationSchema, registration, "node registration");
    const metadataBytes = Buffer.byteLength(JSON.stringify(reg.metadata));
    if (metadataBytes > MAX_METADATA_BYTES) {
      throw new MalformedInputError(`The registration's metadata is ${metadataBytes} bytes, above the limit of ${MAX_METADATA_BYTES}.`, {
        code: "REGISTRATION_METADATA_TOO_LARGE",
        hint: "Metadata names the hardware, backend and client version; nothing else belongs there.",
      });
    }
    const age = this.now() / 1000 - reg.timestamp;
    if (age > this.registrationMaxAgeMs / 1000 || age < -300) {
      throw new DeniedError("The registration's timestamp is too old or in the future.", {
        code: "REGISTRATION_STALE",
        hint: "Check this machine's clock and run dat node register again.",
      });
    }
    if (hashNodeMetadata(reg.metadata) !== reg.hardwareHash.toLowerCase()) {
      throw new MalformedInputError("The registration's metadata does not match its signed hash.", { code: "REGISTRATION_METADATA_MISMATCH" });
    }
    await this.deps.verifyRegistration(reg);
    await this.requireOnchain(reg.address);
    const row = this.db.transaction(() => {
      // Re-registering refreshes; only a new address counts against the caps. An on-chain
      // registry (isRegistered) already made identities cost something: no cap then.
      if (!this.options.isRegistered && !nodesDb.isNodeRegistered(this.db, reg.address)) this.checkRegistrationCaps(context.ip);
      return nodesDb.upsertNode(this.db, {
        address: reg.address, metadata: { ...reg.metadata, backend: reg.backend }, signature: reg.signature, ip: context.ip ?? null,
      }, this.now());
    }).immediate();
    return { address: row.address as Hex, metadata: row.metadata, registeredAt: row.registeredAt };
  }

  private checkRegistrationCaps(ip: string | undefined): void {
    const { maxNodes, maxNodesPerIp: perIp } = this.limits;
    if (nodesDb.countNodes(this.db) >= maxNodes) {
      throw new DeniedError(`This orchestrator already has ${maxNodes} registered nodes without on-chain registration.`, {
        code: "REGISTRY_FULL",
        hint: "Ask the operator to require on-chain registration (dat serve --onchain) or raise orchestrator.maxNodes.",
        data: { maxNodes },
      });
    }
    if (ip !== undefined && nodesDb.countNodes(this.db, ip) >= perIp) {
      throw new DeniedError(`${perIp} nodes are already registered from ${ip}; free registrations are capped per IP.`, {
        code: "REGISTRATION_IP_CAP",
        hint: "Register on-chain (dat node register --onchain) on a server that requires it, reuse an existing node, "
          + "or ask the operator to raise orchestrator.maxNodesPerIp.",
        data: { ip, maxNodesPerIp: perIp },
      });
    }
  }

  private async requireOnchain(address: Hex): Promise<void> {
    if (!this.options.isRegistered || (await this.options.isRegistered(address))) return;
    throw notOnchain(address);
  }

  /** Every node without `page`; one page by address (at most orchestrator.nodesPageMax) with it. */
  async listNodes(page?: NodePage): Promise<NodeInfo[]> {
    const rows = page ? nodesDb.listNodesPage(this.db, { limit: this.pageLimit(page.limit), after: page.after }) : nodesDb.listNodes(this.db);
    const rounds = nodesDb.roundsContributed(this.db);
    return rows.map((n) => ({
      address: n.address as Hex, metadata: n.metadata, registeredAt: n.registeredAt, lastSeenAt: n.lastSeenAt, roundsContributed: rounds.get(n.address) ?? 0,
    }));
  }

  private pageLimit(limit: number | undefined): number {
    const { nodesPageSize, nodesPageMax } = this.limits;
    if (limit === undefined) return Math.min(nodesPageSize, nodesPageMax);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > nodesPageMax) {
      throw new MalformedInputError(`A page holds 1 to ${nodesPageMax} nodes, not ${String(limit)}.`, {
        code: "BAD_PAGE",
        hint: "Ask for fewer nodes per page (limit), or ask the operator to raise orchestrator.nodesPageMax.",
      });
    }
    return limit;
  }

  async createJob(input: CreateJobInput, model: Uint8Array): Promise<JobInfo> {
    const { spec, strategyParams: params, encoding, preprocess } = await resolveJobInput(input);
    const view = await readModelBlob(model);
    // A private job's initial model is stored only encrypted, its key recorded with the job.
    const sealed = modelIsPrivate({ encryptModel: spec.encryptModel ?? false, gateMin: spec.gateMin ?? null, minStake: spec.minStake ?? null })
      ? await sealModel(this.store, model)
      : undefined;
    const cid = sealed ? sealed.plainCid : await this.store.put(model);
    const row = this.db.transaction(() => {
      const inserted = jobsDb.insertJob(this.db, {
      name: spec.name ?? null,
      initialModelCid: cid,
      fingerprint: view.fingerprint,
      rounds: spec.rounds,
      minContributors: spec.minContributors,
      maxContributors: spec.maxContributors ?? null,
      deadlineSeconds: spec.deadlineSeconds,
      epochs: spec.hyper.epochs,
      batchSize: spec.hyper.batchSize,
      lr: spec.hyper.lr,
      optimizer: spec.hyper.optimizer,
      strategy: spec.strategy,
      strategyParams: params,
      dpClip: spec.dpClip ?? null,
      dpNoise: spec.dpNoise ?? null,
      encoding,
      rewardPerRound: spec.rewardPerRound ?? "0",
      validationPath: spec.validationPath ?? null,
      labelColumn: spec.labelColumn ?? null,
      gateToken: spec.gateToken ?? null,
      gateMin: spec.gateMin ?? null,
      encryptModel: spec.encryptModel ?? false,
      }, this.now());
      jobsDb.setJobPreprocess(this.db, inserted.id, preprocess);
      saveJobEcon(this.db, inserted.id, { minStake: spec.minStake ?? null, maxSamples: spec.maxSamples ?? null });
      if (sealed) recordModelKey(this.db, String(inserted.id), sealed, Math.floor(this.now() / 1000));
      return jobsDb.getJob(this.db, inserted.id)!;
    })();
    return this.jobInfo(row);
  }

  async listJobs(): Promise<JobInfo[]> {
    return jobsDb.listJobs(this.db).map((j) => this.jobInfo(j));
  }

  async getJob(jobId: number): Promise<JobInfo> {
    return this.jobInfo(this.requireJob(jobId));
  }

  async openRound(jobId: number, options: { deadlineSeconds?: number } = {}): Promise<RoundInfo> {
    const job = this.requireJob(jobId);
    const { publicKey, privateKey } = await this.deps.generateRoundKeyPair();
    const now = this.now();
    const deadlineSeconds = options.deadlineSeconds ?? job.deadlineSeconds;
    if (!(deadlineSeconds > 0)) throw new UserError("The round deadline must be positive.", { code: "ROUND_BAD_DEADLINE" });
    // A staked job's round is judged at the chain's block of now (read before the row exists).
    const opening = await stakeOpening(this.db, this.options.staking, jobId);
    const row = this.db.transaction(() => {
      const latest = roundsDb.latestRound(this.db, jobId);
      if (latest && isActive(latest.state)) {
        throw new UserError(`Job ${jobId} already has round ${latest.round} in state ${latest.state}.`, {
          code: "ROUND_ALREADY_OPEN",
          hint: `Close it first: dat round close --job ${jobId}`,
          data: { jobId, round: latest.round, state: latest.state },
        });
      }
      const published = roundsDb.listRounds(this.db, jobId).filter((r) => r.state === "published");
      if (published.length >= job.rounds) {
        throw new UserError(`Job ${jobId} has published all its ${job.rounds} round(s).`, {
          code: "JOB_COMPLETE",
          hint: "Create a new job to train further.",
        });
      }
      const base = published.at(-1)?.modelCid ?? job.initialModelCid;
      const inserted = roundsDb.insertRound(this.db, {
        jobId, round: (latest?.round ?? 0) + 1, publicKey, privateKey, baseModelCid: base,
        deadline: now + Math.round(deadlineSeconds * 1000),
      }, now);
      recordStakeOpening(this.db, jobId, inserted.round, opening);
      return roundsDb.transitionRound(this.db, jobId, inserted.round, { to: "collecting" });
    }).immediate();
    this.events.emit(jobId, row.round, "round.opened", { deadline: row.deadline, baseModelCid: row.baseModelCid });
    return this.roundInfo(job, row);
  }

  async currentRound(jobId: number): Promise<RoundInfo> {
    const job = this.requireJob(jobId);
    const latest = roundsDb.latestRound(this.db, jobId);
    if (!latest || !acceptsSubmissions(latest.state)) {
      throw new NotFoundError(`Job ${jobId} has no round collecting submissions.`, {
        code: "ROUND_NOT_OPEN",
        hint: `The operator opens one with: dat round start --job ${jobId}`,
        data: { jobId, latest: latest ? { round: latest.round, state: latest.state } : null },
      });
    }
    return this.roundInfo(job, latest);
  }

  async getModel(cid: string): Promise<Uint8Array> {
    if (typeof cid !== "string" || !/^[a-zA-Z0-9]{8,128}$/.test(cid)) {
      throw new MalformedInputError(`"${String(cid)}" is not a CID.`, { code: "BAD_CID" });
    }
    if (!(await this.store.has(cid))) throw new NotFoundError(`No model with CID ${cid}.`, { code: "MODEL_NOT_FOUND" });
    return this.store.get(cid);
  }

  /**
   * Every check a submission passes before its sealed delta is read: schema, size (at most the
   * sealed size the job's model implies), round collecting, node registered, signature, on-chain
   * registration, fingerprint, no duplicate. `dat serve` calls it with the declared Content-Length
   * before it reads a byte of the body, so an unauthenticated flood costs the server nothing.
   * @returns the largest sealed delta this job accepts, bytes
   */
  async authorizeSubmission(submission: SignedSubmission, sealedBytes: number): Promise<{ maxBytes: number }> {
    const s = parseOrThrow(signedSubmissionSchema, submission, "submission");
    const authorized = await this.authorize(s, sealedBytes);
    this.authorized.set(submission, authorized);
    return { maxBytes: authorized.maxBytes };
  }

  async submit(submission: SignedSubmission, sealed: Uint8Array): Promise<SubmissionReceipt> {
    const receipt = await this.intake(submission, sealed).catch((error: unknown) => {
      const s = submission as Partial<SignedSubmission> | undefined;
      if (Number.isSafeInteger(s?.jobId) && Number.isSafeInteger(s?.round) && jobsDb.getJob(this.db, s!.jobId!)) {
        this.events.emit(s!.jobId!, s!.round!, "submission.rejected", {
          address: typeof s?.address === "string" ? s.address : null, code: (error as { code?: unknown })?.code ?? "INTERNAL", message: (error as Error)?.message,
        });
      }
      throw error;
    });
    return receipt;
  }

  private async intake(submission: SignedSubmission, sealed: Uint8Array): Promise<SubmissionReceipt> {
    const sealedBytes = sealed instanceof Uint8Array ? sealed.length : 0;
    // Authorized from the headers (dat serve): every body-free check passed moments ago; what may
    // have changed since (the round closed or filled, a duplicate arrived) is checked at commit.
    const early = typeof submission === "object" && submission !== null ? this.authorized.get(submission) : undefined;
    if (early) this.authorized.delete(submission);
    let s: SignedSubmission;
    let job: jobsDb.JobRow;
    let round: roundsDb.RoundRow;
    if (early) {
      ({ s, job, round } = early);
      rejectIf(checkBlobSize({ sealedBytes, maxBlobBytes: early.maxBytes }));
    } else {
      s = parseOrThrow(signedSubmissionSchema, submission, "submission");
      ({ job, round } = await this.authorize(s, sealedBytes));
    }
    // Reject garbage now rather than at close: the contributor hears about it while it can still retry.
    const plain = await this.checkSealedDelta(job, round, s, sealed);
    // The CID before the store: a body that is not what was signed leaves no (orphan) blob.
    const cid = await cidForBytes(sealed);
    if (cid !== s.blobCid) {
      throw new MalformedInputError(`The sealed delta's CID is ${cid}, the signed submission says ${s.blobCid}.`, {
        code: "BLOB_CID_MISMATCH",
      });
    }
    // The blob first, then the row; acknowledge only after both: a crash after this line loses nothing.
    await this.store.put(sealed);
    const now = this.now();
    const row = this.db.transaction(() => {
      const current = roundsDb.getRound(this.db, s.jobId, s.round)!;
      const count = subsDb.countSubmissions(this.db, s.jobId, s.round);
      rejectIf(checkCommit(s, { state: current.state, count, maxContributors: job.maxContributors }));
      const inserted = subsDb.insertSubmission(this.db, {
        jobId: s.jobId, round: s.round, address: s.address, blobCid: s.blobCid, sampleCount: s.sampleCount,
        metricsHash: s.metricsHash, fingerprint: s.fingerprint, signature: s.signature,
      }, now);
      if (!inserted) throw duplicateSubmission(s);
      // This transaction holds the write lock: the round now has exactly one more.
      const accepted = count + 1;
      // The event commits with the row (one transaction, one WAL sync per submission); listeners hear of it after.
      const event = this.events.record(s.jobId, s.round, "submission.accepted", {
        address: inserted.address, blobCid: cid, sampleCount: s.sampleCount, accepted,
      });
      return { inserted, accepted, event };
    }).immediate();
    if (row.event) this.events.publish(row.event);
    this.keepOpened(openedKey(s.jobId, s.round, cid), plain);
    return {
      jobId: s.jobId, round: s.round, address: row.inserted.address as Hex, blobCid: cid,
      accepted: row.accepted, receivedAt: row.inserted.receivedAt,
    };
  }

  async roundStatus(jobId: number, round?: number): Promise<RoundStatus> {
    const job = this.requireJob(jobId);
    const row = round === undefined ? roundsDb.latestRound(this.db, jobId) : roundsDb.getRound(this.db, jobId, round);
    if (!row) {
      throw new NotFoundError(round === undefined ? `Job ${jobId} has no rounds yet.` : `Job ${jobId} has no round ${round}.`, {
        code: "ROUND_NOT_FOUND",
        hint: `Open one with: dat round start --job ${jobId}`,
      });
    }
    const subs = subsDb.listSubmissions(this.db, jobId, row.round);
    const dp = dpOf(job);
    return {
      jobId, round: row.round, state: row.state, publicKey: row.publicKey as Hex, baseModelCid: row.baseModelCid,
      modelCid: row.modelCid, deadline: row.deadline, openedAt: row.openedAt, closedAt: row.closedAt,
      failureReason: row.failureReason, metrics: row.metrics, minContributors: job.minContributors,
      accepted: subs.filter((x) => x.status !== "rejected").length,
      privacy: dp ? privacySpent(dp, row.round) : null,
      submissions: subs.map((x) => ({
        address: x.address as Hex, blobCid: x.blobCid, sampleCount: x.sampleCount, status: x.status,
        rejectReason: x.rejectReason, score: x.score, receivedAt: x.receivedAt,
      })),
    };
  }

  async closeRound(jobId: number): Promise<CloseRoundResult> {
    const inFlight = this.closing.get(jobId);
    if (inFlight) return inFlight;
    const run = this.runClose(jobId).finally(() => this.closing.delete(jobId));
    this.closing.set(jobId, run);
    return run;
  }

  async failRound(jobId: number, reason: string): Promise<CloseRoundResult> {
    this.requireJob(jobId);
    if (typeof reason !== "string" || !reason.trim()) throw new UserError("A failed round needs a reason.", { code: "ROUND_FAILURE_REASON" });
    const latest = roundsDb.latestRound(this.db, jobId);
    if (!latest || !isActive(latest.state)) {
      throw new NotFoundError(`Job ${jobId} has no active round to fail.`, { code: "ROUND_NOT_OPEN" });
    }
    const row = roundsDb.transitionRound(this.db, jobId, latest.round, { to: "failed", failureReason: reason, closedAt: this.now() });
    this.events.emit(jobId, row.round, "round.failed", { reason });
    this.forgetRound(jobId, latest.round);
    return { jobId, round: row.round, state: row.state, modelCid: null, failureReason: row.failureReason, metrics: row.metrics, scores: [], rejected: [] };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.closing.values()]);
    if (this.db.open) this.db.close();
  }

  // --- internals -------------------------------------------------------------------------------

  private async runClose(jobId: number): Promise<CloseRoundResult> {
    const job = this.requireJob(jobId);
    const latest = roundsDb.latestRound(this.db, jobId);
    if (!latest || !isActive(latest.state)) {
      throw new NotFoundError(`Job ${jobId} has no round to close.`, {
        code: "ROUND_NOT_OPEN",
        hint: latest ? `Round ${latest.round} is already ${latest.state}.` : `Open one with: dat round open --job ${jobId}`,
      });
    }
    let round = latest;
    if (round.state !== "aggregating") {
      round = roundsDb.transitionRound(this.db, jobId, round.round, { to: "aggregating", closedAt: this.now() });
      this.events.emit(jobId, round.round, "round.closed", {});
    }
    // A transient fault (store unreadable, database busy…) throws and leaves the round aggregating
    // for a later retry. Anything else is decided by the inputs (the strategy overflowed, too few
    // updates survived validation…): redoing the close would fail the same way forever, so the
    // round fails now with the reason.
    let outcome: AggregateRoundOutcome;
    try {
      outcome = await aggregateRound({
        db: this.db, store: this.store, deps: this.deps, job, round,
        opened: (blobCid) => this.opened.get(openedKey(jobId, round.round, blobCid)),
      });
    } catch (error) {
      if (isRetryable(error)) throw error;
      this.forgetRound(jobId, round.round);
      const current = roundsDb.getRound(this.db, jobId, round.round);
      if (!current || current.state !== "aggregating") throw error;
      const code = (error as { code?: unknown }).code;
      const reason = `aggregation failed: ${(error as Error)?.message ?? String(error)}${typeof code === "string" ? ` (${code})` : ""}`;
      const failed = roundsDb.transitionRound(this.db, jobId, round.round, {
        to: "failed", failureReason: reason, metrics: { ...(current.metrics ?? {}), error: typeof code === "string" ? code : "AGGREGATE_FAILED" },
      });
      this.events.emit(jobId, failed.round, "round.failed", { reason });
      return {
        jobId, round: failed.round, state: failed.state, modelCid: null, failureReason: failed.failureReason,
        metrics: failed.metrics, scores: [], rejected: [],
      };
    }
    this.forgetRound(jobId, round.round);
    const final = roundsDb.getRound(this.db, jobId, round.round)!;
    this.events.emit(jobId, final.round, "round.aggregated", { modelCid: final.modelCid, metrics: final.metrics });
    return {
      jobId, round: final.round, state: final.state, modelCid: final.modelCid, failureReason: final.failureReason,
      metrics: final.metrics, scores: outcome.scores, rejected: outcome.rejected,
    };
  }

  /** The submission checks that need no body (see authorizeSubmission), facts gathered cheapest first. */
  private async authorize(s: SignedSubmission, sealedBytes: number): Promise<Authorized> {
    // The checks are intake.ts's; this binds them to the database, the store and the round key,
    // gathering each fact only once the cheaper checks before it passed.
    rejectIf(checkBlobSize({ sealedBytes, maxBlobBytes: this.maxBlobBytes }));
    const job = this.requireJob(s.jobId);
    // One query in the usual case: the submission is for the job's latest round, which collects.
    const round = roundsDb.latestRound(this.db, s.jobId);
    const asked = () => (round?.round === s.round ? round : roundsDb.getRound(this.db, s.jobId, s.round));
    const needsAsked = !round || round.round !== s.round || !acceptsSubmissions(round.state);
    rejectIf(checkEnvelope(s, {
      sealedBytes, maxBlobBytes: this.maxBlobBytes, latest: round ?? null, asked: needsAsked ? asked() ?? null : round,
      registered: nodesDb.isNodeRegistered(this.db, s.address),
    }));
    await this.deps.verifySubmission(s);
    await this.requireOnchain(s.address);
    rejectIf(checkStake(s, await stakeFacts(this.db, this.options.staking, s.jobId, s.round, s.address)));
    rejectIf(checkIdentity(s, { fingerprint: job.fingerprint, duplicate: Boolean(subsDb.getSubmission(this.db, s.jobId, s.round, s.address)) }));
    const maxBytes = Math.min(this.maxBlobBytes, await this.impliedSealedBytes(job));
    rejectIf(checkBlobSize({ sealedBytes, maxBlobBytes: maxBytes }));
    return { s, job, round: round!, maxBytes };
  }

  /**
   * The largest sealed delta the job's model can produce: the delta format's header, tensor table
   * and payloads for the job's encoding (top-k counted at k = n, its worst case), sealed in the
   * smallest HPKE chunks (most tags). Cached per job: the initial model fixes the shapes.
   */
  private impliedSealedBytes(job: jobsDb.JobRow): Promise<number> {
    let limit = this.sealedLimits.get(job.id);
    if (!limit) {
      limit = this.computeSealedBytes(job);
      this.sealedLimits.set(job.id, limit);
      // A failed read (store unreachable) is not remembered: the next submission tries again.
      limit.catch(() => this.sealedLimits.delete(job.id));
    }
    return limit;
  }

  private async computeSealedBytes(job: jobsDb.JobRow): Promise<number> {
    const view = await readModelBlob(await this.store.get(job.initialModelCid));
    const encoding = parseEncoding(job.encoding);
    let table = 0;
    let payloads = 0;
    for (const spec of view.specs) {
      table += 2 + Buffer.byteLength(spec.name) + 1 + spec.dtype.length + 1 + 4 * spec.shape.length;
      const n = spec.shape.reduce((a, b) => a * b, 1);
      payloads += alignUp(payloadSize(encoding, n, n));
    }
    const plain = alignUp(HEADER_BYTES + table) + payloads;
    return SEAL_HEADER_BYTES + plain + SEAL_TAG_BYTES * Math.max(1, Math.ceil(plain / SEAL_MIN_CHUNK));
  }

  private keepOpened(key: string, plain: Uint8Array): void {
    if (plain.length > this.openedCacheBytes || this.opened.has(key)) return;
    while (this.openedBytes + plain.length > this.openedCacheBytes) {
      const [oldest, bytes] = this.opened.entries().next().value as [string, Uint8Array];
      this.opened.delete(oldest);
      this.openedBytes -= bytes.length;
    }
    this.opened.set(key, plain);
    this.openedBytes += plain.length;
  }

  /** The round's private key, imported on the first submission of the round and kept until it ends. */
  private roundKey(round: roundsDb.RoundRow): RoundRecipientKey {
    const id = `${round.jobId}/${round.round}`;
    const cached = this.roundKeys.get(id);
    if (cached && cached.privateKey === round.privateKey) return cached.key;
    // Rounds end through close or fail, which forget their key; a bound covers rounds that another
    // process closed (this one never sees them end).
    if (this.roundKeys.size >= MAX_ROUND_KEYS) this.roundKeys.delete(this.roundKeys.keys().next().value!);
    const key = this.deps.importRoundKey(round.privateKey as Hex);
    this.roundKeys.set(id, { privateKey: round.privateKey, key });
    return key;
  }

  /** Forgets what the submit path kept for a round that ended: its opened deltas and its key. */
  private forgetRound(jobId: number, round: number): void {
    this.roundKeys.delete(`${jobId}/${round}`);
    this.dropOpened(jobId, round);
  }

  private dropOpened(jobId: number, round: number): void {
    const prefix = `${jobId}/${round}/`;
    for (const [key, bytes] of this.opened) {
      if (key.startsWith(prefix)) {
        this.opened.delete(key);
        this.openedBytes -= bytes.length;
      }
    }
  }

  /** Opens and decodes a sealed delta against the round; returns the opened bytes. */
  private async checkSealedDelta(job: jobsDb.JobRow, round: roundsDb.RoundRow, s: SignedSubmission, sealed: Uint8Array): Promise<Uint8Array> {
    let plain: Uint8Array;
    try {
      plain = await this.deps.openDelta(this.roundKey(round), sealed, { jobId: s.jobId, round: s.round, address: s.address });
    } catch (error) {
      throw new MalformedInputError("The sealed delta cannot be opened with this round's key (wrong round, wrong address or tampered bytes).", {
        code: "SUBMISSION_UNSEALABLE",
        cause: error,
      });
    }
    const delta = this.deps.decodeDelta(plain, { fingerprint: job.fingerprint, maxNorm: normBound(job.dpClip, job.dpNoise) });
    rejectIf(checkDelta(s, { sampleCount: delta.sampleCount }));
    return plain;
  }

  private requireJob(jobId: number): jobsDb.JobRow {
    if (!Number.isSafeInteger(jobId) || jobId < 1) {
      throw new MalformedInputError(`"${String(jobId)}" is not a job id.`, { code: "BAD_JOB_ID", hint: "Job ids are positive integers: dat job list" });
    }
    const cached = this.jobRows.get(jobId);
    if (cached) return cached;
    const job = jobsDb.getJob(this.db, jobId);
    if (!job) throw new NotFoundError(`No job ${jobId}.`, { code: "JOB_NOT_FOUND", hint: "List jobs with: dat job list" });
    if (this.jobRows.size >= MAX_CACHED_JOBS) this.jobRows.delete(this.jobRows.keys().next().value!);
    this.jobRows.set(jobId, job);
    return job;
  }

  private jobInfo(j: jobsDb.JobRow): JobInfo {
    const rounds = roundsDb.listRounds(this.db, j.id);
    const published = rounds.filter((r) => r.state === "published");
    const dp = dpOf(j);
    const econ = getJobEcon(this.db, j.id);
    return {
      id: j.id, name: j.name, initialModelCid: j.initialModelCid, modelCid: published.at(-1)?.modelCid ?? j.initialModelCid,
      fingerprint: j.fingerprint as Hex, rounds: j.rounds, minContributors: j.minContributors, maxContributors: j.maxContributors,
      deadlineSeconds: j.deadlineSeconds,
      hyper: hyperOf(j), strategy: j.strategy, strategyParams: j.strategyParams, dp,
      encoding: j.encoding, rewardPerRound: j.rewardPerRound,
      validation: j.validationPath && j.labelColumn ? { path: j.validationPath, labelColumn: j.labelColumn } : null,
      // An older row without a gate minimum or a stake is public (jobGate): say "0", as a new one stores.
      gate: { token: j.gateToken as Hex | null, min: jobGate({ gateMin: j.gateMin, minStake: econ.minStake }) ? j.gateMin : "0" },
      encryptModel: j.encryptModel, preprocess: preprocessOf(j), createdAt: j.createdAt,
      ...econ,
      publishedRounds: published.length,
      history: rounds.map((r) => ({
        round: r.round, state: r.state, modelCid: r.modelCid,
        loss: typeof r.metrics?.loss === "number" ? r.metrics.loss : undefined,
        accuracy: typeof r.metrics?.accuracy === "number" ? r.metrics.accuracy : undefined,
        accepted: typeof r.metrics?.accepted === "number" ? r.metrics.accepted : undefined,
        failureReason: r.failureReason,
        ...(dp ? { epsilon: privacySpent(dp, r.round).epsilon } : {}),
      })),
    };
  }

  private roundInfo(j: jobsDb.JobRow, r: roundsDb.RoundRow): RoundInfo {
    return {
      jobId: j.id, round: r.round, state: r.state, publicKey: r.publicKey as Hex, modelCid: r.baseModelCid,
      fingerprint: j.fingerprint as Hex, deadline: r.deadline,
      hyper: hyperOf(j), strategy: j.strategy, strategyParams: j.strategyParams, encoding: j.encoding, dp: dpOf(j),
      minContributors: j.minContributors, maxContributors: j.maxContributors, preprocess: preprocessOf(j),
    };
  }
}

/** The job's stored preprocessing; jobs from before migration 009 have none. */
function preprocessOf(j: jobsDb.JobRow): PreprocessSpec {
  return (j.preprocess as PreprocessSpec | null) ?? { kind: "none" };
}

function hyperOf(j: jobsDb.JobRow): HyperParams {
  return { epochs: j.epochs, batchSize: j.batchSize, lr: j.lr, optimizer: j.optimizer as HyperParams["optimizer"] };
}

/** The job's DP settings (a job that clips without noise has noise 0), or null without DP. */
function dpOf(j: jobsDb.JobRow): { clip: number; noise: number } | null {
  return j.dpClip !== null ? { clip: j.dpClip, noise: j.dpNoise ?? 0 } : null;
}

/** What authorize() found: the parsed submission the checks ran on, its job and round, the size limit. */
interface Authorized {
  s: SignedSubmission;
  job: jobsDb.JobRow;
  round: roundsDb.RoundRow;
  maxBytes: number;
}

function openedKey(jobId: number, round: number, blobCid: string): string {
  return `${jobId}/${round}/${blobCid}`;
}

function rejectIf(rejection: DatError | null): void {
  if (rejection) throw rejection;
}
