/**
 * Rows of the econ tables (migrations 008, 010): a job's minimum stake and sample cap, a round's
 * stake block and the minimum in force then, cheat evidence and slash list, and each submission's
 * score flag.
 */
import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

export interface JobEcon {
  /** Minimum stake in token base units (decimal string), or null: no stake needed (trusted group). */
  minStake: string | null;
  /** The `--max-samples` cap of claimed sample counts, or null. */
  maxSamples: number | null;
}

/** Published evidence of a cheat (see core/scoreBeyondPublic.ts CheatEvidence). */
export interface EvidenceRecord {
  kind: string;
  ids: string[];
  slashable: boolean;
  measure: number;
}

export interface RoundEcon {
  /**
   * The block at which stakes of this round are judged: the chain's latest block when the round
   * opened (null for a job without a stake, or a round opened without a chain to ask).
   */
  stakeBlock: number | null;
  /** The job's on-chain minimum stake at `stakeBlock` (decimal base units), or null. */
  openMinStake: string | null;
  evidence: EvidenceRecord[];
  /** Lower-case addresses to slash with the round's publication. */
  slashes: string[];
}

export function saveJobEcon(db: Database.Database, jobId: number, econ: JobEcon): void {
  prepared(db, "INSERT OR REPLACE INTO job_econ (job_id, min_stake, max_samples) VALUES (?, ?, ?)").run(jobId, econ.minStake, econ.maxSamples);
}

export function getJobEcon(db: Database.Database, jobId: number): JobEcon {
  const r = prepared(db, "SELECT min_stake, max_samples FROM job_econ WHERE job_id = ?").get(jobId) as
    { min_stake: string | null; max_samples: number | null } | undefined;
  return { minStake: r?.min_stake ?? null, maxSamples: r?.max_samples ?? null };
}

export function getRoundEcon(db: Database.Database, jobId: number, round: number): RoundEcon {
  const r = prepared(db, "SELECT stake_block, open_min_stake, evidence, slashes FROM round_econ WHERE job_id = ? AND round = ?").get(jobId, round) as
    { stake_block: number | null; open_min_stake: string | null; evidence: string; slashes: string } | undefined;
  if (!r) return { stakeBlock: null, openMinStake: null, evidence: [], slashes: [] };
  return {
    stakeBlock: r.stake_block, openMinStake: r.open_min_stake,
    evidence: JSON.parse(r.evidence) as EvidenceRecord[], slashes: JSON.parse(r.slashes) as string[],
  };
}

/**
 * Records the round's stake block and the minimum in force at it, once: the first writer wins and
 * its values are returned, so restarts (and a late first check of a round opened without a chain)
 * judge every submission of a round at the same block against the same minimum.
 */
export function setStakeBlock(
  db: Database.Database, jobId: number, round: number, block: number, minStake: string,
): { stakeBlock: number; openMinStake: string } {
  prepared(db, `INSERT INTO round_econ (job_id, round, stake_block, open_min_stake) VALUES (?, ?, ?, ?)
    ON CONFLICT (job_id, round) DO UPDATE SET
      open_min_stake = CASE WHEN stake_block IS NULL THEN excluded.open_min_stake ELSE open_min_stake END,
      stake_block = COALESCE(stake_block, excluded.stake_block)`)
    .run(jobId, round, block, minStake);
  const r = getRoundEcon(db, jobId, round);
  return { stakeBlock: r.stakeBlock!, openMinStake: r.openMinStake ?? minStake };
}

/** Stores the round's evidence and slash list (at close, in the close transaction). */
export function saveRoundEvidence(db: Database.Database, jobId: number, round: number, evidence: EvidenceRecord[], slashes: string[]): void {
  prepared(db, `INSERT INTO round_econ (job_id, round, evidence, slashes) VALUES (?, ?, ?, ?)
    ON CONFLICT (job_id, round) DO UPDATE SET evidence = excluded.evidence, slashes = excluded.slashes`)
    .run(jobId, round, JSON.stringify(evidence), JSON.stringify(slashes));
}

export interface SubmissionFlag {
  flag: string | null;
  agreement: number;
  residualRatio: number;
}

export function saveSubmissionFlag(db: Database.Database, submissionId: number, f: SubmissionFlag): void {
  prepared(db, "INSERT OR REPLACE INTO submission_flags (submission_id, flag, agreement, residual_ratio) VALUES (?, ?, ?, ?)")
    .run(submissionId, f.flag, f.agreement, f.residualRatio);
}

/** Flags of a round's submissions, by submission id. */
export function listSubmissionFlags(db: Database.Database, jobId: number, round: number): Map<number, SubmissionFlag> {
  const rows = prepared(db, `SELECT f.submission_id AS id, f.flag, f.agreement, f.residual_ratio FROM submission_flags f
    JOIN submissions s ON s.id = f.submission_id WHERE s.job_id = ? AND s.round = ?`).all(jobId, round) as
    { id: number; flag: string | null; agreement: number; residual_ratio: number }[];
  return new Map(rows.map((r) => [r.id, { flag: r.flag, agreement: r.agreement, residualRatio: r.residual_ratio }]));
}
