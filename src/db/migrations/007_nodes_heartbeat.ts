/**
 * Nodes that stay up (`dat train --follow`): when each node was last heard from (its signed
 * re-registration is its heartbeat), and the round events `dat serve` streams, kept in the
 * database so that a stream resumes (Last-Event-ID) across processes and restarts.
 */
export const migration007NodesHeartbeat = {
  version: 7,
  name: "nodes_heartbeat",
  up: `
ALTER TABLE nodes ADD COLUMN last_seen_at INTEGER;
UPDATE nodes SET last_seen_at = registered_at WHERE last_seen_at IS NULL;
CREATE TABLE IF NOT EXISTS round_events (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id  INTEGER NOT NULL,
  round   INTEGER NOT NULL,
  type    TEXT NOT NULL,
  data    TEXT NOT NULL,
  at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS round_events_job ON round_events (job_id, id);
`,
};
