/**
 * Rows of the `rounds` table (migration 003). State changes go through `transitionRound`, which
 * checks the edge with src/core/round.ts inside the same transaction that writes it.
 */
import type Database from "better-sqlite3";
import { prepared } from "./statements.js";
import { assertTransition, type RoundState } from "../core/round.js";

export interface RoundMetrics {
  /** Validation loss and accuracy of the new global model, when the job has a validation set. */
  loss?: number;
  accuracy?: number;
  /** Accepted / rejected submissions at close. */
  accepted?: number;
  rejected?: number;
  /** Total samples behind the aggregate. */
  samples?: number;
  /** Deltas in the aggregate: flagged ones (zero, free-ride, noise) left out, copies counted once. */
  aggregated?: number;
  [key: string]: unknown;
}

export interface RoundRow {
  jobId: number;
  round: number;
  state: RoundState;
  /** X25519 public key, hex. */
  publicKey: string;
  /** X25519 private key, hex; stays in the operator's database. */
  privateKey: string;
  baseModelCid: string;
  modelCid: string | null;
  /** ms since the epoch. */
  deadline: number;
  failureReason: string | null;
  metrics: RoundMetrics | null;
  openedAt: number;
  closedAt: number | null;
}

interface RawRound {
  job_id: number; round: number; state: RoundState; public_key: string; private_key: string;
  base_model_cid: string; model_cid: string | null; deadline: number; failure_reason: string | null;
  metrics: string | null; opened_at: number; closed_at: number | null;
}

function fromRaw(r: RawRound): RoundRow {
  return {
    jobId: r.job_id, round: r.round, state: r.state, publicKey: r.public_key, privateKey: r.private_key,
    baseModelCid: r.base_model_cid, modelCid: r.model_cid, deadline: r.deadline, failureReason: r.failure_reason,
    metrics: r.metrics === null ? null : (JSON.parse(r.metrics) as RoundMetrics), openedAt: r.opened_at,
    closedAt: r.closed_at,
  };
}

export interface NewRound {
  jobId: number;
  round: number;
  publicKey: string;
  privateKey: string;
  baseModelCid: string;
  deadline: number;
}

/** Inserts a round in state "open". The partial unique index refuses a second active round per job. */
export function insertRound(db: Database.Database, round: NewRound, now = Date.now()): RoundRow {
  prepared(db, `INSERT INTO rounds (job_id, round, state, public_key, private_key, base_model_cid, deadline, opened_at)
    VALUES (@jobId, @round, 'open', @publicKey, @privateKey, @baseModelCid, @deadline, @now)`).run({ ...round, now });
  return getRound(db, round.jobId, round.round)!;
}

/** One round, or undefined. */
export function getRound(db: Database.Database, jobId: number, round: number): RoundRow | undefined {
  const r = prepared(db, "SELECT * FROM rounds WHERE job_id = ? AND round = ?").get(jobId, round) as RawRound | undefined;
  return r && fromRaw(r);
}

/** The job's most recent round (highest number), or undefined. */
export function latestRound(db: Database.Database, jobId: number): RoundRow | undefined {
  const r = prepared(db, "SELECT * FROM rounds WHERE job_id = ? ORDER BY round DESC LIMIT 1").get(jobId) as RawRound | undefined;
  return r && fromRaw(r);
}

/** The job's latest published round, or undefined. */
export function latestPublishedRound(db: Database.Database, jobId: number): RoundRow | undefined {
  const r = prepared(db, "SELECT * FROM rounds WHERE job_id = ? AND state = 'published' ORDER BY round DESC LIMIT 1")
    .get(jobId) as RawRound | undefined;
  return r && fromRaw(r);
}

/** All rounds of a job, in order. */
export function listRounds(db: Database.Database, jobId: number): RoundRow[] {
  return (prepared(db, "SELECT * FROM rounds WHERE job_id = ? ORDER BY round").all(jobId) as RawRound[]).map(fromRaw);
}

export interface RoundTransition {
  to: RoundState;
  failureReason?: string;
  modelCid?: string;
  metrics?: RoundMetrics;
  closedAt?: number;
}

/**
 * Moves a round to a new state after checking the edge against the state read in the same
 * transaction (so two closers cannot both win). Returns the updated row.
 */
export function transitionRound(db: Database.Database, jobId: number, round: number, change: RoundTransition): RoundRow {
  return db.transaction(() => {
    const current = getRound(db, jobId, round);
    if (!current) throw new Error(`round ${jobId}/${round} vanished`);
    assertTransition(current.state, change.to, change.failureReason);
    prepared(db, `UPDATE rounds SET state = @to,
        failure_reason = COALESCE(@failureReason, failure_reason),
        model_cid = COALESCE(@modelCid, model_cid),
        metrics = COALESCE(@metrics, metrics),
        closed_at = COALESCE(closed_at, @closedAt)
      WHERE job_id = @jobId AND round = @round`).run({
      jobId, round, to: change.to, failureReason: change.failureReason ?? null, modelCid: change.modelCid ?? null,
      metrics: change.metrics ? JSON.stringify(change.metrics) : null, closedAt: change.closedAt ?? null,
    });
    return getRound(db, jobId, round)!;
  }).immediate();
}
