/**
 * Rows of the `round_events` table (migration 007): what happened to a job's rounds, in order.
 * The row id is the event id a stream hands out (SSE `id:`), so a client resumes after any id,
 * across processes and restarts.
 */
import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

export interface RoundEventRow {
  id: number;
  jobId: number;
  round: number;
  type: string;
  data: Record<string, unknown>;
  /** ms since the epoch. */
  at: number;
}

interface RawEvent { id: number; job_id: number; round: number; type: string; data: string; at: number }

function fromRaw(r: RawEvent): RoundEventRow {
  return { id: r.id, jobId: r.job_id, round: r.round, type: r.type, data: JSON.parse(r.data) as Record<string, unknown>, at: r.at };
}

/** Appends one event; returns it with its id. */
export function insertRoundEvent(db: Database.Database, event: Omit<RoundEventRow, "id">): RoundEventRow {
  const info = prepared(db, "INSERT INTO round_events (job_id, round, type, data, at) VALUES (?, ?, ?, ?, ?)")
    .run(event.jobId, event.round, event.type, JSON.stringify(event.data), event.at);
  return { id: Number(info.lastInsertRowid), ...event };
}

/**
 * Appends the event unless one of the same type was recorded for the job's round already (a
 * settlement retried after success announces nothing twice); returns the new row or undefined.
 */
export function insertRoundEventOnce(db: Database.Database, event: Omit<RoundEventRow, "id">): RoundEventRow | undefined {
  return db.transaction(() => {
    const seen = prepared(db, "SELECT 1 FROM round_events WHERE job_id = ? AND round = ? AND type = ? LIMIT 1").get(event.jobId, event.round, event.type);
    return seen ? undefined : insertRoundEvent(db, event);
  }).immediate();
}

/** A job's events with an id above `afterId`, oldest first, at most `limit`. */
export function listRoundEvents(db: Database.Database, jobId: number, afterId = 0, limit = 1000): RoundEventRow[] {
  return (prepared(db, "SELECT * FROM round_events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?").all(jobId, afterId, limit) as RawEvent[]).map(fromRaw);
}

/** The id of a job's latest event (0 when none). */
export function lastRoundEventId(db: Database.Database, jobId: number): number {
  const r = prepared(db, "SELECT MAX(id) AS id FROM round_events WHERE job_id = ?").get(jobId) as { id: number | null };
  return r.id ?? 0;
}
