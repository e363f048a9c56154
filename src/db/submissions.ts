/**
 * Rows of the `submissions` table (migration 003): one signed submission per address per round.
 */
import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

export type SubmissionStatus = "accepted" | "aggregated" | "rejected";

export interface SubmissionRow {
  id: number;
  jobId: number;
  round: number;
  /** Lower-case 0x address. */
  address: string;
  blobCid: string;
  sampleCount: number;
  metricsHash: string;
  fingerprint: string;
  signature: string;
  status: SubmissionStatus;
  rejectReason: string | null;
  score: number | null;
  receivedAt: number;
}

export type NewSubmission = Omit<SubmissionRow, "id" | "status" | "rejectReason" | "score" | "receivedAt">;

interface RawSubmission {
  id: number; job_id: number; round: number; address: string; blob_cid: string; sample_count: number;
  metrics_hash: string; fingerprint: string; signature: string; status: SubmissionStatus;
  reject_reason: string | null; score: number | null; received_at: number;
}

function fromRaw(r: RawSubmission): SubmissionRow {
  return {
    id: r.id, jobId: r.job_id, round: r.round, address: r.address, blobCid: r.blob_cid, sampleCount: r.sample_count,
    metricsHash: r.metrics_hash, fingerprint: r.fingerprint, signature: r.signature, status: r.status,
    rejectReason: r.reject_reason, score: r.score, receivedAt: r.received_at,
  };
}

/**
 * Inserts an accepted submission. Returns undefined when the address already submitted in this
 * round (the unique constraint decides, so two racing requests cannot both get in).
 */
export function insertSubmission(db: Database.Database, s: NewSubmission, now = Date.now()): SubmissionRow | undefined {
  const r = prepared(db, `INSERT INTO submissions (job_id, round, address, blob_cid, sample_count, metrics_hash,
      fingerprint, signature, received_at)
    VALUES (@jobId, @round, @address, @blobCid, @sampleCount, @metricsHash, @fingerprint, @signature, @now)
    ON CONFLICT (job_id, round, address) DO NOTHING
    RETURNING *`).get({
    jobId: s.jobId, round: s.round, address: s.address.toLowerCase(), blobCid: s.blobCid, sampleCount: s.sampleCount,
    metricsHash: s.metricsHash, fingerprint: s.fingerprint, signature: s.signature, now,
  }) as RawSubmission | undefined;
  return r && fromRaw(r);
}

/** The submission of `address` in a round, or undefined. */
export function getSubmission(db: Database.Database, jobId: number, round: number, address: string): SubmissionRow | undefined {
  const r = prepared(db, "SELECT * FROM submissions WHERE job_id = ? AND round = ? AND address = ?")
    .get(jobId, round, address.toLowerCase()) as RawSubmission | undefined;
  return r && fromRaw(r);
}

/** A round's submissions in arrival order, optionally only those with one status. */
export function listSubmissions(db: Database.Database, jobId: number, round: number, status?: SubmissionStatus): SubmissionRow[] {
  const rows = status
    ? prepared(db, "SELECT * FROM submissions WHERE job_id = ? AND round = ? AND status = ? ORDER BY id").all(jobId, round, status)
    : prepared(db, "SELECT * FROM submissions WHERE job_id = ? AND round = ? ORDER BY id").all(jobId, round);
  return (rows as RawSubmission[]).map(fromRaw);
}

/** Number of submissions of a round (all statuses). */
export function countSubmissions(db: Database.Database, jobId: number, round: number): number {
  const r = prepared(db, "SELECT COUNT(*) AS n FROM submissions WHERE job_id = ? AND round = ?").get(jobId, round) as { n: number };
  return r.n;
}

/** Marks a submission aggregated with its contribution score. */
export function markAggregated(db: Database.Database, id: number, score: number): void {
  prepared(db, "UPDATE submissions SET status = 'aggregated', score = ? WHERE id = ?").run(score, id);
}

/** Marks a submission rejected at close, with the reason. */
export function markRejected(db: Database.Database, id: number, reason: string): void {
  prepared(db, "UPDATE submissions SET status = 'rejected', reject_reason = ?, score = 0 WHERE id = ?").run(reason, id);
}
