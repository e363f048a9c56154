/**
 * Rows of the `jobs` table (migration 003): one federated training job with everything a round
 * needs to know — hyper-parameters, strategy, privacy, encoding, rewards, validation, gate.
 */
import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

export interface JobRow {
  id: number;
  name: string | null;
  initialModelCid: string;
  fingerprint: string;
  rounds: number;
  minContributors: number;
  maxContributors: number | null;
  deadlineSeconds: number;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: string;
  strategy: string;
  strategyParams: Record<string, number>;
  dpClip: number | null;
  dpNoise: number | null;
  encoding: string;
  /** Reward per round in token base units, as a decimal string. */
  rewardPerRound: string;
  validationPath: string | null;
  labelColumn: string | null;
  gateToken: string | null;
  /** Minimum gate-token balance in base units, as a decimal string. */
  gateMin: string | null;
  encryptModel: boolean;
  /** The job's preprocessing (a PreprocessSpec as JSON); null: none (jobs before migration 009). */
  preprocess: unknown;
  createdAt: number;
}

export type NewJob = Omit<JobRow, "id" | "createdAt" | "preprocess">;

interface RawJob {
  id: number; name: string | null; initial_model_cid: string; fingerprint: string; rounds: number;
  min_contributors: number; max_contributors: number | null; deadline_seconds: number; epochs: number;
  batch_size: number; lr: number; optimizer: string; strategy: string; strategy_params: string;
  dp_clip: number | null; dp_noise: number | null; encoding: string; reward_per_round: string;
  validation_path: string | null; label_column: string | null; gate_token: string | null;
  gate_min: string | null; encrypt_model: number; created_at: number; preprocess?: string | null;
}

function fromRaw(r: RawJob): JobRow {
  return {
    id: r.id, name: r.name, initialModelCid: r.initial_model_cid, fingerprint: r.fingerprint, rounds: r.rounds,
    minContributors: r.min_contributors, maxContributors: r.max_contributors, deadlineSeconds: r.deadline_seconds,
    epochs: r.epochs, batchSize: r.batch_size, lr: r.lr, optimizer: r.optimizer, strategy: r.strategy,
    strategyParams: JSON.parse(r.strategy_params) as Record<string, number>, dpClip: r.dp_clip, dpNoise: r.dp_noise,
    encoding: r.encoding, rewardPerRound: r.reward_per_round, validationPath: r.validation_path,
    labelColumn: r.label_column, gateToken: r.gate_token, gateMin: r.gate_min, encryptModel: r.encrypt_model === 1,
    preprocess: r.preprocess ? (JSON.parse(r.preprocess) as unknown) : null,
    createdAt: r.created_at,
  };
}

/** Inserts a job and returns it with its id. */
export function insertJob(db: Database.Database, job: NewJob, now = Date.now()): JobRow {
  const info = prepared(db, `INSERT INTO jobs (name, initial_model_cid, fingerprint, rounds, min_contributors,
      max_contributors, deadline_seconds, epochs, batch_size, lr, optimizer, strategy, strategy_params, dp_clip,
      dp_noise, encoding, reward_per_round, validation_path, label_column, gate_token, gate_min, encrypt_model, created_at)
    VALUES (@name, @initialModelCid, @fingerprint, @rounds, @minContributors, @maxContributors, @deadlineSeconds,
      @epochs, @batchSize, @lr, @optimizer, @strategy, @strategyParams, @dpClip, @dpNoise, @encoding, @rewardPerRound,
      @validationPath, @labelColumn, @gateToken, @gateMin, @encryptModel, @createdAt)`).run({
    ...job,
    strategyParams: JSON.stringify(job.strategyParams),
    encryptModel: job.encryptModel ? 1 : 0,
    createdAt: now,
  });
  return getJob(db, Number(info.lastInsertRowid))!;
}

/** Records the job's preprocessing spec (plain JSON, validated by the caller). */
export function setJobPreprocess(db: Database.Database, id: number, spec: unknown): void {
  prepared(db, "UPDATE jobs SET preprocess = ? WHERE id = ?").run(JSON.stringify(spec), id);
}

/** The job with this id, or undefined. */
export function getJob(db: Database.Database, id: number): JobRow | undefined {
  const r = prepared(db, "SELECT * FROM jobs WHERE id = ?").get(id) as RawJob | undefined;
  return r && fromRaw(r);
}

/** Every job, oldest first. */
export function listJobs(db: Database.Database): JobRow[] {
  return (prepared(db, "SELECT * FROM jobs ORDER BY id").all() as RawJob[]).map(fromRaw);
}
