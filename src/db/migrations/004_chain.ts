/**
 * Chain settlement of rounds: the reward split, its Merkle root and tree CID, and whether the
 * chain has the round. A row is written before the transaction is sent, so a failed or lost
 * transaction leaves a 'pending' row that `dat round publish` retries; 'published' is only set
 * after the chain says so (a receipt, or the distributor reporting the round as published).
 */
export const migration004Chain = {
  version: 4,
  name: "chain",
  up: `
CREATE TABLE IF NOT EXISTS settlements (
  job_id        TEXT NOT NULL,
  round         INTEGER NOT NULL,
  model_cid     TEXT NOT NULL,
  reward_total  TEXT NOT NULL,
  reward_root   TEXT NOT NULL,
  tree_cid      TEXT NOT NULL,
  amounts_json  TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'published')),
  chain_id      INTEGER,
  distributor   TEXT,
  tx_hash       TEXT,
  block_number  INTEGER,
  last_error    TEXT,
  attempts      INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (job_id, round)
);
CREATE INDEX IF NOT EXISTS settlements_status ON settlements (status);
`,
};
