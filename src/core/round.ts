/**
 * The round state machine, pure. A round moves open → collecting → aggregating → published, and
 * any non-terminal state may move to failed (with a reason). Persisting the state is the job of
 * src/db/rounds.ts; deciding the next step is done here so the embedded orchestrator, the HTTP
 * server and `dat round start` agree on every edge.
 */
import { UserError } from "./errors.js";

export const ROUND_STATES = ["open", "collecting", "aggregating", "published", "failed"] as const;
export type RoundState = (typeof ROUND_STATES)[number];

const TRANSITIONS: Readonly<Record<RoundState, readonly RoundState[]>> = {
  open: ["collecting", "failed"],
  collecting: ["aggregating", "failed"],
  // aggregating → aggregating is the resume edge: a close interrupted by a crash runs again.
  aggregating: ["aggregating", "published", "failed"],
  published: [],
  failed: [],
};

/** True when a round may move from `from` to `to`. */
export function canTransition(from: RoundState, to: RoundState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Throws a UserError (code ROUND_ILLEGAL_TRANSITION) unless `from → to` is a legal edge.
 * A transition to `failed` must carry a non-empty reason.
 */
export function assertTransition(from: RoundState, to: RoundState, reason?: string): void {
  if (!canTransition(from, to)) {
    throw new UserError(`A round in state "${from}" cannot become "${to}".`, {
      code: "ROUND_ILLEGAL_TRANSITION",
      hint: isTerminal(from) ? "The round is finished; open the next one with dat round open." : undefined,
      data: { from, to },
    });
  }
  if (to === "failed" && !reason?.trim()) {
    throw new UserError("A failed round needs a reason.", { code: "ROUND_FAILURE_REASON" });
  }
}

/** Published and failed rounds never change again. */
export function isTerminal(state: RoundState): boolean {
  return state === "published" || state === "failed";
}

/** Whether a job's round in this state blocks opening another one (one open round per job). */
export function isActive(state: RoundState): boolean {
  return !isTerminal(state);
}

/** Only a collecting round takes submissions. */
export function acceptsSubmissions(state: RoundState): boolean {
  return state === "collecting";
}

export interface CloseDecisionInput {
  state: RoundState;
  /** Submissions accepted so far. */
  accepted: number;
  minContributors: number;
  maxContributors?: number | null;
  /** Deadline, ms since the epoch. */
  deadline: number;
  /** Now, ms since the epoch. */
  now: number;
}

export type CloseDecision =
  | { action: "wait"; remainingMs: number }
  | { action: "close"; why: "min-reached" | "max-reached" | "deadline" | "resume" }
  | { action: "fail"; reason: string }
  | { action: "none"; why: "terminal" };

/**
 * What `dat round start` should do next: keep waiting, close and aggregate, or fail the round.
 * A round closes as soon as `minContributors` valid submissions are in (or `maxContributors`);
 * when the deadline passes it closes with what it has if that is enough, and fails otherwise.
 */
export function decideClose(input: CloseDecisionInput): CloseDecision {
  const { state, accepted, minContributors, maxContributors, deadline, now } = input;
  if (isTerminal(state)) return { action: "none", why: "terminal" };
  if (state === "aggregating") return { action: "close", why: "resume" };
  if (maxContributors != null && accepted >= maxContributors) return { action: "close", why: "max-reached" };
  if (accepted >= minContributors) return { action: "close", why: "min-reached" };
  if (now >= deadline) {
    return {
      action: "fail",
      reason: `deadline passed with ${accepted} valid submission(s), ${minContributors} required`,
    };
  }
  return { action: "wait", remainingMs: deadline - now };
}

/**
 * Parse a duration such as "90s", "10m", "2h", "1d" or a bare number of seconds into seconds.
 * Returns null for anything else.
 */
export function parseDurationSeconds(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!m) return null;
  const value = Number(m[1]);
  const unit = (m[2] ?? "s").toLowerCase();
  const factor = unit === "ms" ? 0.001 : unit === "s" ? 1 : unit === "m" ? 60 : unit === "h" ? 3600 : 86400;
  const seconds = value * factor;
  return Number.isFinite(seconds) && seconds > 0 ? seconds : null;
}
