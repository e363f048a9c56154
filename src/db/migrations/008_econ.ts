/**
 * Economics (issue 13): a job's minimum stake and sample-count cap, the block at which a round's
 * stakes are judged, the round's published cheat evidence and slash list, and each submission's
 * score flag. Kept in tables of their own so other parts' migrations of `jobs`/`rounds` do not
 * collide with these columns.
 */
export const migration008Econ = {
  version: 8,
  name: "econ",
  up: `
CREATE TABLE IF NOT EXISTS job_econ (
  job_id      INTEGER PRIMARY KEY REFERENCES jobs(id),
  min_stake   TEXT,
  max_samples INTEGER
);
CREATE TABLE IF NOT EXISTS round_econ (
  job_id      INTEGER NOT NULL,
  round       INTEGER NOT NULL,
  stake_block INTEGER,
  evidence    TEXT NOT NULL DEFAULT '[]',
  slashes     TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (job_id, round)
);
CREATE TABLE IF NOT EXISTS submission_flags (
  submission_id  INTEGER PRIMARY KEY REFERENCES submissions(id),
  flag           TEXT,
  agreement      REAL,
  residual_ratio REAL
);
`,
};
