/**
 * Inference: single-use challenge nonces (token-gated access) and the keys of encrypted
 * published models, held by the orchestrator's key service.
 */
export const migration005Inference = {
  version: 5,
  name: "inference",
  up: `
CREATE TABLE IF NOT EXISTS inference_challenges (
  nonce       TEXT PRIMARY KEY,
  job_id      TEXT NOT NULL,
  purpose     TEXT NOT NULL,
  audience    TEXT NOT NULL,
  chain_id    INTEGER NOT NULL,
  issued_at   INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER,
  used_by     TEXT
);
CREATE INDEX IF NOT EXISTS inference_challenges_expires ON inference_challenges (expires_at);
CREATE TABLE IF NOT EXISTS model_keys (
  model_cid   TEXT PRIMARY KEY,
  job_id      TEXT NOT NULL,
  plain_cid   TEXT,
  key         BLOB NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS model_keys_job ON model_keys (job_id);
`,
};
