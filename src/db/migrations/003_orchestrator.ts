/**
 * Orchestrator: jobs (with their hyper-parameters, strategy, privacy, encoding, rewards, validation
 * set and inference gate), rounds (state machine of src/core/round.ts, round key pair, models,
 * deadline, metrics), submissions (one per address per round), registered nodes, and the server
 * optimizer state of FedAvgM / FedAdam jobs.
 */
export const migration003Orchestrator = {
  version: 3,
  name: "orchestrator",
  up: `
CREATE TABLE IF NOT EXISTS jobs (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  name              TEXT,
  initial_model_cid TEXT NOT NULL,
  fingerprint       TEXT NOT NULL,
  rounds            INTEGER NOT NULL CHECK (rounds >= 1),
  min_contributors  INTEGER NOT NULL CHECK (min_contributors >= 1),
  max_contributors  INTEGER,
  deadline_seconds  REAL NOT NULL CHECK (deadline_seconds > 0),
  epochs            INTEGER NOT NULL,
  batch_size        INTEGER NOT NULL,
  lr                REAL NOT NULL,
  optimizer         TEXT NOT NULL,
  strategy          TEXT NOT NULL,
  strategy_params   TEXT NOT NULL DEFAULT '{}',
  dp_clip           REAL,
  dp_noise          REAL,
  encoding          TEXT NOT NULL,
  reward_per_round  TEXT NOT NULL DEFAULT '0',
  validation_path   TEXT,
  label_column      TEXT,
  gate_token        TEXT,
  gate_min          TEXT,
  encrypt_model     INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
  job_id            INTEGER NOT NULL REFERENCES jobs(id),
  round             INTEGER NOT NULL CHECK (round >= 1),
  state             TEXT NOT NULL CHECK (state IN ('open','collecting','aggregating','published','failed')),
  public_key        TEXT NOT NULL,
  private_key       TEXT NOT NULL,
  base_model_cid    TEXT NOT NULL,
  model_cid         TEXT,
  deadline          INTEGER NOT NULL,
  failure_reason    TEXT,
  metrics           TEXT,
  opened_at         INTEGER NOT NULL,
  closed_at         INTEGER,
  PRIMARY KEY (job_id, round)
);
CREATE UNIQUE INDEX IF NOT EXISTS rounds_one_active ON rounds (job_id)
  WHERE state IN ('open','collecting','aggregating');
CREATE TABLE IF NOT EXISTS submissions (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id            INTEGER NOT NULL,
  round             INTEGER NOT NULL,
  address           TEXT NOT NULL,
  blob_cid          TEXT NOT NULL,
  sample_count      INTEGER NOT NULL,
  metrics_hash      TEXT NOT NULL,
  fingerprint       TEXT NOT NULL,
  signature         TEXT NOT NULL,
  status            TEXT NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted','aggregated','rejected')),
  reject_reason     TEXT,
  score             REAL,
  received_at       INTEGER NOT NULL,
  UNIQUE (job_id, round, address),
  FOREIGN KEY (job_id, round) REFERENCES rounds(job_id, round)
);
CREATE TABLE IF NOT EXISTS nodes (
  address           TEXT PRIMARY KEY,
  metadata          TEXT NOT NULL DEFAULT '{}',
  signature         TEXT NOT NULL,
  registered_at     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS server_optimizer_state (
  job_id            INTEGER PRIMARY KEY REFERENCES jobs(id),
  round             INTEGER NOT NULL,
  strategy          TEXT NOT NULL,
  step              INTEGER NOT NULL,
  m                 BLOB,
  v                 BLOB,
  updated_at        INTEGER NOT NULL
);
`,
};
