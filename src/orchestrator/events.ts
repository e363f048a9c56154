/**
 * The round event bus: what happened to a job's rounds, as the operator and `dat round watch`
 * see it live. Each event is written to the home's database first (round_events: its row id is
 * the event id) and then handed to in-process subscribers, so a stream served by `dat serve`
 * also carries events that another process of the same home wrote (`dat round start` runs the
 * round in the operator's home) and resumes after a restart from Last-Event-ID.
 *
 * Event types and their `data`:
 *   round.opened          { deadline, baseModelCid }
 *   submission.accepted   { address, blobCid, sampleCount, accepted }
 *   submission.rejected   { address, code, message }
 *   round.closed          { }
 *   round.aggregated      { modelCid, metrics }
 *   round.failed          { reason }
 *   round.published       { txHash }
 */
import type Database from "better-sqlite3";
import { insertRoundEvent, listRoundEvents, type RoundEventRow } from "../db/roundEvents.js";

export const ROUND_EVENT_TYPES = [
  "round.opened", "submission.accepted", "submission.rejected", "round.closed", "round.aggregated", "round.failed", "round.published",
] as const;
export type RoundEventType = (typeof ROUND_EVENT_TYPES)[number];

/** One event as streamed: `{ id, type, jobId, round, at, data }`. */
export type RoundEvent = RoundEventRow & { type: RoundEventType };

export type RoundEventListener = (event: RoundEvent) => void;

/** Records and fans out round events of one home. */
export class RoundEventBus {
  private readonly listeners = new Set<RoundEventListener>();

  constructor(private readonly db: Database.Database, private readonly now: () => number = Date.now) {}

  /**
   * Records an event and tells the subscribers. Never throws: an event that cannot be written
   * must not fail the round or the submission it describes.
   */
  emit(jobId: number, round: number, type: RoundEventType, data: Record<string, unknown> = {}): RoundEvent | undefined {
    return emitRoundEvent(this.db, { jobId, round, type, data, at: this.now() }, this.listeners);
  }

  /** Calls `listener` for every event emitted in this process from now on; returns the unsubscribe. */
  subscribe(listener: RoundEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A job's recorded events after `afterId` (resume), oldest first. */
  since(jobId: number, afterId = 0, limit = 1000): RoundEvent[] {
    return listRoundEvents(this.db, jobId, afterId, limit) as RoundEvent[];
  }
}

/** Records one event in `db` (the bus's path, and the settlement's, which opens its own database). */
export function emitRoundEvent(
  db: Database.Database,
  event: Omit<RoundEvent, "id">,
  listeners: Iterable<RoundEventListener> = [],
): RoundEvent | undefined {
  let recorded: RoundEvent;
  try {
    recorded = insertRoundEvent(db, event) as RoundEvent;
  } catch {
    return undefined;
  }
  for (const listener of listeners) {
    try {
      listener(recorded);
    } catch {
      // A subscriber's fault (a closed stream) is the subscriber's.
    }
  }
  return recorded;
}
