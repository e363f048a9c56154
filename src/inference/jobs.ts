/**
 * What inference needs to know about a job, read from the orchestrator's tables: its gate, the
 * model to serve, whether that model is encrypted, and the CSV columns to ignore.
 */
import type { PreprocessSpec } from "../core/preprocess.js";
import type Database from "better-sqlite3";
import { getAddress, type Address } from "viem";
import type { DatConfig } from "../config/schema.js";
import { NotFoundError, UsageError, UserError } from "../core/errors.js";
import { getJob } from "../db/jobs.js";
import { latestPublishedRound } from "../db/rounds.js";
import { getEncryptedCopy } from "../db/challenges.js";
import { getJobEcon } from "../db/econ.js";
import { jobGate } from "./modelKeys.js";

export interface InferenceJob {
  id: string;
  /**
   * The gate, or null for a public model. `min` undefined means "one whole token" (resolved with
   * the token's decimals at check time).
   */
  gate: { token: Address; min: bigint | undefined } | null;
  encryptModel: boolean;
  modelCid: string;
  /** Round that produced the model (0: the job's initial model). */
  round: number;
  labelColumn?: string;
  columns?: string[];
  classNames?: string[];
  /** The job's preprocessing: every input goes through it before the model (as in training). */
  preprocess?: PreprocessSpec;
}

/** Parse a job id from a URL or a flag: a positive integer. */
export function parseJobId(raw: string): number {
  if (!/^[1-9]\d{0,15}$/.test(raw)) {
    throw new UsageError(`Job id must be a positive integer, got ${JSON.stringify(raw)}.`, { code: "BAD_JOB_ID" });
  }
  return Number(raw);
}

/**
 * The job's inference view. The gate is jobGate's (modelKeys.ts), the rule downloads share: gate_min
 * "0" means no gate; a null gate_min means one whole token for a job with a minimum stake and no gate
 * for one without. A null gate_token means the token deployed on the configured chain
 * (chain.deployments[chainId].token). The model is the latest published round's, else the
 * job's initial model; for an encrypted job, the encrypted copy of that model when one was
 * stored with putJobModel / putPrivateModel (modelKeys.ts).
 */
export function resolveInferenceJob(db: Database.Database, jobIdRaw: string, config: DatConfig, chainId: number | undefined): InferenceJob {
  const jobId = parseJobId(jobIdRaw);
  const job = getJob(db, jobId);
  if (!job) throw new NotFoundError(`Job ${jobId} does not exist.`, { code: "JOB_NOT_FOUND", hint: "List jobs with: dat job list" });
  const published = latestPublishedRound(db, jobId);
  let gate: InferenceJob["gate"] = null;
  const rule = jobGate({ gateMin: job.gateMin, minStake: getJobEcon(db, jobId).minStake });
  if (rule) {
    let token = job.gateToken;
    if (!token) {
      const deployment = chainId === undefined ? undefined : config.chain.deployments[String(chainId)];
      if (!deployment) {
        throw new UserError(`Job ${jobId} is gated by the default token, but no deployment is configured for chain ${chainId ?? "(unknown)"}.`, {
          code: "GATE_NOT_CONFIGURED",
          hint: "Deploy the contracts (dat devnet, or dat chain deploy) so chain.deployments names the token.",
        });
      }
      token = deployment.token;
    }
    gate = { token: getAddress(token), min: rule.min };
  }
  const plainCid = published?.modelCid ?? job.initialModelCid;
  // An encrypted job's model is stored only as its encrypted copy (contributors read the plain one
  // through the orchestrator, which holds the key); consumers get the copy and a released key.
  const modelCid = (job.encryptModel && getEncryptedCopy(db, String(jobId), plainCid)) || plainCid;
  return {
    id: String(jobId),
    gate,
    encryptModel: job.encryptModel,
    modelCid,
    round: published?.round ?? 0,
    labelColumn: job.labelColumn ?? undefined,
    preprocess: (job.preprocess as PreprocessSpec | null) ?? undefined,
  };
}
