/**
 * The server optimizer state of FedAvgM / FedAdam jobs (migration 003), saved in the same
 * transaction that publishes a round so a resumed close never steps the optimizer twice.
 */
import type Database from "better-sqlite3";

export interface ServerStateRow {
  jobId: number;
  round: number;
  strategy: string;
  step: number;
  m: Float32Array | null;
  v: Float32Array | null;
}

function toBlob(a: Float32Array | null | undefined): Buffer | null {
  return a ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : null;
}

function fromBlob(b: Buffer | null): Float32Array | null {
  if (!b) return null;
  // Copy into a fresh, aligned buffer: SQLite hands back arbitrary offsets.
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export function getServerState(db: Database.Database, jobId: number): ServerStateRow | undefined {
  const r = db.prepare("SELECT * FROM server_optimizer_state WHERE job_id = ?").get(jobId) as
    | { job_id: number; round: number; strategy: string; step: number; m: Buffer | null; v: Buffer | null }
    | undefined;
  return r && { jobId: r.job_id, round: r.round, strategy: r.strategy, step: r.step, m: fromBlob(r.m), v: fromBlob(r.v) };
}

export function saveServerState(db: Database.Database, s: ServerStateRow, now = Date.now()): void {
  db.prepare(`INSERT INTO server_optimizer_state (job_id, round, strategy, step, m, v, updated_at)
    VALUES (@jobId, @round, @strategy, @step, @m, @v, @now)
    ON CONFLICT (job_id) DO UPDATE SET round = excluded.round, strategy = excluded.strategy, step = excluded.step,
      m = excluded.m, v = excluded.v, updated_at = excluded.updated_at`).run({ ...s, m: toBlob(s.m), v: toBlob(s.v), now });
}
