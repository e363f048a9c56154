/**
 * `dat train --job <id> --follow`: a contributor that stays up. It registers with the
 * orchestrator, then keeps re-sending its signed registration as a heartbeat (the orchestrator
 * records when it last heard from each node); it waits for each round to open, trains and pushes
 * through trainForJob, once per round, until the job has published all its rounds or it is asked
 * to stop.
 *
 * Waiting: with an event source (`dat serve`'s stream of the job's round events), any event of the
 * job wakes the node at once and it checks the job again; while the stream is up, it asks on its
 * own only every `streamPollMs` (a safety net). When the stream drops (a restart of the
 * orchestrator) or is refused, it falls back to asking every `pollMs` until the stream is back.
 * The stream only says *when* to look: what to do is always read from the orchestrator's answers.
 *
 * Faults: a connection fault (the orchestrator restarting, a network blip) is reported as a
 * `retry` event and retried with exponential backoff, never fatal. A round that closed while this
 * node trained is skipped. A stop request (the signal) lets the round in progress finish: the push
 * is acknowledged only once durable, so nothing is ever half-pushed.
 */
import type { LocalAccount } from "viem";
import { isRetryable } from "../core/errors.js";
import { isActive } from "../core/round.js";
import type { Orchestrator } from "../orchestrator/types.js";
import type { RoundEventSource } from "../orchestrator/events.js";
import { buildRegistration } from "./submission.js";
import { trainForJob, type TrainForJobOptions } from "./trainForJob.js";

export type FollowEvent =
  | { type: "registered"; address: string; heartbeat: boolean }
  | { type: "waiting"; jobId: number; afterRound: number }
  | { type: "round-start"; jobId: number; round: number; epochs: number; batchSize: number }
  | { type: "round-pushed"; jobId: number; round: number; sampleCount: number; loss: number; blobCid: string; accepted: number }
  | { type: "round-skipped"; jobId: number; round: number; code: string; message: string }
  | { type: "retry"; what: string; code: string; message: string; inMs: number }
  | { type: "stream"; state: "up" | "down"; message?: string }
  | { type: "done"; jobId: number; reason: "job-complete" | "stopped"; roundsContributed: number[] };

export interface FollowJobOptions extends Omit<TrainForJobOptions, "account" | "onStart" | "onTrained"> {
  account: LocalAccount;
  /** Backend announced in the registration. */
  backendLabel: string;
  /** Hardware metadata announced in the registration. */
  metadata: Record<string, unknown>;
  /** Stop after the current round (Ctrl-C). */
  signal?: AbortSignal;
  onEvent?: (event: FollowEvent) => void;
  /** Heartbeat period, ms (a fresh signed registration). */
  heartbeatMs?: number;
  /** How often an idle node asks for a new round without a live event stream, ms. */
  pollMs?: number;
  /** The job's round events; absent: poll every `pollMs`. */
  events?: RoundEventSource;
  /** How often an idle node asks anyway while the event stream is up, ms (default 15 s). */
  streamPollMs?: number;
  /** First backoff after a connection fault, ms (doubled up to maxBackoffMs). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface FollowJobResult {
  jobId: number;
  reason: "job-complete" | "stopped";
  roundsContributed: number[];
}

/** Codes that mean "this round is no longer yours to push to": skip it and wait for the next. */
const ROUND_GONE = new Set(["ROUND_NOT_OPEN", "SUBMISSION_WRONG_ROUND", "ROUND_FULL"]);

/** Follows a job until it is complete or `signal` stops it. Throws only faults that retrying cannot fix. */
export async function followJob(orch: Orchestrator, options: FollowJobOptions): Promise<FollowJobResult> {
  const { jobId, signal } = options;
  const emit = (e: FollowEvent) => options.onEvent?.(e);
  const pollMs = options.pollMs ?? 1000;
  const maxBackoff = options.maxBackoffMs ?? 10_000;
  let backoff = options.backoffMs ?? 500;
  const contributed: number[] = [];
  let lastRound = 0;

  const register = async (heartbeat: boolean): Promise<true> => {
    const registration = await buildRegistration(options.account, options.backendLabel, options.metadata);
    const node = await orch.registerNode(registration);
    emit({ type: "registered", address: node.address, heartbeat });
    return true;
  };
  /** Runs `step`; on a retryable fault reports it, waits the backoff and returns undefined. */
  const attempt = async <T>(what: string, step: () => Promise<T>): Promise<T | undefined> => {
    try {
      const value = await step();
      backoff = options.backoffMs ?? 500;
      return value;
    } catch (error) {
      if (!isRetryable(error)) throw error;
      emit({ type: "retry", what, code: String((error as { code?: unknown }).code ?? "NETWORK"), message: (error as Error).message, inMs: backoff });
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, maxBackoff);
      return undefined;
    }
  };

  const wake = startEventWake(options.events, jobId, signal, emit);
  /** Waits until an event of the job arrives or the poll period (short without a live stream) ends. */
  const idle = (): Promise<void> => wake.next(wake.live() ? options.streamPollMs ?? 15_000 : pollMs);

  while (!signal?.aborted && (await attempt("register", () => register(false))) === undefined) { /* retried */ }
  // Heartbeats run beside the loop (training can take longer than the period); a missed one is retried next period.
  const heartbeat = setInterval(() => {
    register(true).catch(() => undefined);
  }, options.heartbeatMs ?? 10_000);
  heartbeat.unref();
  try {
    let waitingFor = -1;
    while (!signal?.aborted) {
      // Events from here on wake the next idle wait: none is lost between this check and the wait.
      wake.clear();
      const job = await attempt("job", () => orch.getJob(jobId));
      if (!job) continue;
      const active = job.history.at(-1);
      if (job.publishedRounds >= job.rounds && !(active && isActive(active.state))) {
        emit({ type: "done", jobId, reason: "job-complete", roundsContributed: contributed });
        return { jobId, reason: "job-complete", roundsContributed: contributed };
      }
      const round = await attempt("round", () => orch.currentRound(jobId).catch((error: unknown) => {
        if ((error as { code?: unknown }).code === "ROUND_NOT_OPEN") return null;
        throw error;
      }));
      if (round === undefined) continue;
      if (round === null || round.round <= lastRound || (await alreadyIn(orch, jobId, round.round, options.account.address))) {
        if (round && round.round > lastRound) lastRound = round.round;
        if (waitingFor !== lastRound) {
          waitingFor = lastRound;
          emit({ type: "waiting", jobId, afterRound: lastRound });
        }
        await idle();
        continue;
      }
      let result: Awaited<ReturnType<typeof trainForJob>>;
      try {
        result = await trainForJob(orch, {
          ...options,
          onStart: (info) => emit({ type: "round-start", ...info }),
        });
      } catch (error) {
        const code = String((error as { code?: unknown }).code ?? "");
        if (code === "SUBMISSION_DUPLICATE") {
          lastRound = round.round;
          continue;
        }
        if (ROUND_GONE.has(code)) {
          lastRound = round.round;
          emit({ type: "round-skipped", jobId, round: round.round, code, message: (error as Error).message });
          continue;
        }
        if (!isRetryable(error)) throw error;
        // The round is retried from the start (pull, train, push) while it still collects.
        emit({ type: "retry", what: `round ${round.round}`, code, message: (error as Error).message, inMs: backoff });
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, maxBackoff);
        continue;
      }
      lastRound = result.round;
      contributed.push(result.round);
      emit({
        type: "round-pushed", jobId, round: result.round, sampleCount: result.sampleCount, loss: result.loss,
        blobCid: result.receipt?.blobCid ?? "", accepted: result.receipt?.accepted ?? 0,
      });
    }
    emit({ type: "done", jobId, reason: "stopped", roundsContributed: contributed });
    return { jobId, reason: "stopped", roundsContributed: contributed };
  } finally {
    clearInterval(heartbeat);
    await wake.stop();
  }
}

interface EventWake {
  /** Whether the event stream is connected now. */
  live(): boolean;
  /** Forgets events seen so far. */
  clear(): void;
  /** Resolves at the first event since the last clear (at once if one came), after `ms`, or on abort. */
  next(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/** Watches the job's round events in the background to wake an idle follower; never throws. */
function startEventWake(source: RoundEventSource | undefined, jobId: number, signal: AbortSignal | undefined, emit: (e: FollowEvent) => void): EventWake {
  const controller = new AbortController();
  const stopWatching = (): void => controller.abort();
  signal?.addEventListener("abort", stopWatching, { once: true });
  let live = false;
  let seen = false;
  let waker: (() => void) | undefined;
  const setLive = (up: boolean, message?: string): void => {
    if (up === live) return;
    emit({ type: "stream", state: up ? "up" : "down", ...(message ? { message } : {}) });
    live = up;
    // A wait sized for a live stream must not outlast its loss: look again now, then poll.
    waker?.();
  };
  let watching: Promise<void> = Promise.resolve();
  if (source) {
    watching = (async () => {
      const { watchRoundEvents } = await import("../orchestrator/events.js");
      await watchRoundEvents(source, {
        jobId,
        signal: controller.signal,
        onConnect: () => setLive(true),
        onReconnect: ({ error }) => setLive(false, error),
        onEvent: () => {
          seen = true;
          waker?.();
        },
      });
    })().catch((error: unknown) => {
      // A refused stream (an orchestrator without events): polling alone carries on.
      setLive(false, (error as Error).message);
    });
  }
  return {
    live: () => live,
    clear: () => {
      seen = false;
    },
    next: (ms) => new Promise<void>((resolve) => {
      if (seen || signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        waker = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      waker = done;
      signal?.addEventListener("abort", done, { once: true });
    }),
    stop: async () => {
      controller.abort();
      signal?.removeEventListener("abort", stopWatching);
      await watching;
    },
  };
}

/** Whether this address already has a submission in the round (a restarted follower skips it). */
async function alreadyIn(orch: Orchestrator, jobId: number, round: number, address: string): Promise<boolean> {
  const status = await orch.roundStatus(jobId, round).catch(() => undefined);
  return Boolean(status?.submissions.some((s) => s.address.toLowerCase() === address.toLowerCase()));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
