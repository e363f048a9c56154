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
 *   round.published       { txHash }  (from the settlement, src/chain/settle.ts; null when found already on chain by a home without its record)
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

  /**
   * Records an event without telling anyone: called inside the transaction that makes the event
   * true, so both commit together; `publish` it once that transaction committed. Never throws.
   */
  record(jobId: number, round: number, type: RoundEventType, data: Record<string, unknown> = {}): RoundEvent | undefined {
    return emitRoundEvent(this.db, { jobId, round, type, data, at: this.now() });
  }

  /** Tells the subscribers of an event that `record` wrote and its transaction committed. */
  publish(event: RoundEvent): void {
    notify(event, this.listeners);
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
  notify(recorded, listeners);
  return recorded;
}

function notify(event: RoundEvent, listeners: Iterable<RoundEventListener>): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch {
      // A subscriber's fault (a closed stream) is the subscriber's.
    }
  }
}

/** Where round events are read from: a home's database (embedded) or `dat serve`'s stream. */
export type RoundEventSource = { kind: "bus"; bus: RoundEventBus } | { kind: "http"; url: string };

export interface WatchRoundEventsOptions {
  jobId: number;
  /** Start after this event id; undefined: with the next event (the stream's default; the bus's latest). */
  after?: number;
  signal?: AbortSignal;
  onEvent: (event: RoundEvent) => void;
  /** The stream is connected (HTTP: each time the server accepted it; the database: once). */
  onConnect?: () => void;
  /** A lost stream (server restart) is reconnected with Last-Event-ID after this pause, ms. */
  onReconnect?: (info: { error: string; inMs: number }) => void;
  pollMs?: number;
}

/**
 * Delivers a job's round events until `signal` aborts. Over HTTP it reconnects with the last id
 * after a lost connection, so nothing is missed across a restart of `dat serve`. A refusal (unknown
 * job, bad id) is thrown.
 */
export async function watchRoundEvents(source: RoundEventSource, options: WatchRoundEventsOptions): Promise<void> {
  const { signal } = options;
  if (source.kind === "bus") {
    let after = options.after ?? source.bus.since(options.jobId, 0, 1_000_000).at(-1)?.id ?? 0;
    options.onConnect?.();
    const drain = (): void => {
      for (const e of source.bus.since(options.jobId, after)) {
        after = e.id;
        options.onEvent(e);
      }
    };
    while (!signal?.aborted) {
      drain();
      await pause(options.pollMs ?? 250, signal);
    }
    drain(); // what was recorded before the stop was asked for
    return;
  }
  const { request } = await import("undici");
  const { errorFromBody } = await import("../core/errorBody.js");
  let last = options.after;
  let backoff = 250;
  while (!signal?.aborted) {
    const query = last === undefined ? "" : `?after=${last}`;
    try {
      const res = await request(`${source.url.replace(/\/$/, "")}/jobs/${options.jobId}/events${query}`, {
        method: "GET", signal, headers: { accept: "text/event-stream", ...(last === undefined ? {} : { "last-event-id": String(last) }) },
      });
      if (res.statusCode !== 200) {
        const text = await res.body.text();
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        // Too many streams (429) or a server fault: back off and retry; any other refusal is final.
        throw Object.assign(errorFromBody(res.statusCode, body, source.url), { fatal: res.statusCode !== 429 && res.statusCode < 500 });
      }
      backoff = 250;
      options.onConnect?.();
      let buffer = "";
      for await (const chunk of res.body) {
        buffer += (chunk as Buffer).toString("utf8");
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
          if (!data) continue;
          const event = JSON.parse(data) as RoundEvent;
          last = event.id;
          options.onEvent(event);
        }
      }
      // The server ended the stream (it is stopping): as lost as a failed connection.
      if (!signal?.aborted) options.onReconnect?.({ error: "the event stream ended", inMs: backoff });
    } catch (error) {
      if (signal?.aborted) return;
      if ((error as { fatal?: boolean }).fatal) throw error;
      options.onReconnect?.({ error: (error as Error).message, inMs: backoff });
    }
    if (signal?.aborted) return;
    // The stream ended (server stopped) or failed: reconnect after a pause, resuming after `last`.
    await pause(backoff, signal);
    backoff = Math.min(backoff * 2, 5000);
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", done);
      resolve();
    }, ms);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    signal?.addEventListener("abort", done, { once: true });
  });
}
