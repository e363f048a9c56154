/**
 * Rows of the `training_runs` table (migration 002): one local training run with its model,
 * results (weights + delta under run_dir), sample count and metrics.
 */
import type Database from "better-sqlite3";

export type TrainingRunStatus = "running" | "stopped" | "completed";

export interface TrainingRunRow {
  id: string;
  jobId: number | null;
  modelDir: string;
  /** sha256 of the packed global model the run started from. */
  modelHash: string;
  runDir: string;
  deltaPath: string | null;
  backend: string;
  sampleCount: number;
  status: TrainingRunStatus;
  metrics: Record<string, unknown>;
  options: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

interface RawRun {
  id: string; job_id: number | null; model_dir: string; model_hash: string; run_dir: string; delta_path: string | null;
  backend: string; sample_count: number; status: TrainingRunStatus; metrics: string; options: string; created_at: number; updated_at: number;
}

function fromRaw(r: RawRun): TrainingRunRow {
  return {
    id: r.id, jobId: r.job_id, modelDir: r.model_dir, modelHash: r.model_hash, runDir: r.run_dir, deltaPath: r.delta_path,
    backend: r.backend, sampleCount: r.sample_count, status: r.status, metrics: JSON.parse(r.metrics) as Record<string, unknown>,
    options: JSON.parse(r.options) as Record<string, unknown>, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/** Insert or replace a run (a resumed run updates its row). */
export function upsertTrainingRun(db: Database.Database, run: Omit<TrainingRunRow, "updatedAt">): void {
  db.prepare(
    `INSERT INTO training_runs (id, job_id, model_dir, model_hash, run_dir, delta_path, backend, sample_count, status, metrics, options, created_at, updated_at)
     VALUES (@id, @jobId, @modelDir, @modelHash, @runDir, @deltaPath, @backend, @sampleCount, @status, @metrics, @options, @createdAt, @updatedAt)
     ON CONFLICT(id) DO UPDATE SET delta_path = excluded.delta_path, backend = excluded.backend, sample_count = excluded.sample_count,
       status = excluded.status, metrics = excluded.metrics, options = excluded.options, updated_at = excluded.updated_at`,
  ).run({ ...run, metrics: JSON.stringify(run.metrics), options: JSON.stringify(run.options), updatedAt: Date.now() });
}

export function getTrainingRun(db: Database.Database, id: string): TrainingRunRow | undefined {
  const raw = db.prepare("SELECT * FROM training_runs WHERE id = ?").get(id) as RawRun | undefined;
  return raw ? fromRaw(raw) : undefined;
}

/** The most recent run that was stopped before it finished (what `dat train --resume` continues). */
export function latestStoppedRun(db: Database.Database, jobId: number | null = null): TrainingRunRow | undefined {
  const raw = (jobId === null
    ? db.prepare("SELECT * FROM training_runs WHERE status IN ('stopped', 'running') ORDER BY created_at DESC LIMIT 1").get()
    : db.prepare("SELECT * FROM training_runs WHERE status IN ('stopped', 'running') AND job_id = ? ORDER BY created_at DESC LIMIT 1").get(jobId)) as RawRun | undefined;
  return raw ? fromRaw(raw) : undefined;
}

export function listTrainingRuns(db: Database.Database, limit = 50): TrainingRunRow[] {
  return (db.prepare("SELECT * FROM training_runs ORDER BY created_at DESC LIMIT ?").all(limit) as RawRun[]).map(fromRaw);
}
