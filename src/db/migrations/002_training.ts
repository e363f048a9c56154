/**
 * Training: one row per local training run (`dat train`), with where its trained weights and
 * delta live under <home>/runs/<id>/, so the next step can push them.
 */
export const migration002Training = {
  version: 2,
  name: "training",
  up: `
CREATE TABLE IF NOT EXISTS training_runs (
  id            TEXT PRIMARY KEY,
  job_id        INTEGER,
  model_dir     TEXT NOT NULL,
  model_hash    TEXT NOT NULL,
  run_dir       TEXT NOT NULL,
  delta_path    TEXT,
  backend       TEXT NOT NULL,
  sample_count  INTEGER NOT NULL DEFAULT 0,
  status        TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'completed')),
  metrics       TEXT NOT NULL DEFAULT '{}',
  options       TEXT NOT NULL DEFAULT '{}',
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS training_runs_job ON training_runs (job_id, created_at);
`,
};
