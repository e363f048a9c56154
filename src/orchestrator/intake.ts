/**
 * Intake: the checks a submission passes before it is acknowledged, as pure functions of the
 * submission, its round and the facts the embedded orchestrator gathered (database rows, the
 * signature and on-chain results, the opened delta). No I/O here: embedded.ts gathers the facts
 * in the order below (the expensive ones only once the cheap ones passed) and binds the store and
 * the database; `decideIntake` runs every check in that same order on facts given all at once.
 *
 * Order: blob present and within the size limit → round collecting → node registered →
 * signature → on-chain registration → stake at the round's block (staked jobs) → model fingerprint → no duplicate → opened delta agrees
 * with the signed sample count and carries samples → at commit: round still collecting, not full.
 */
import { DatError, DeniedError, MalformedInputError, UserError } from "../core/errors.js";
import { acceptsSubmissions, type RoundState } from "../core/round.js";
import type { Hex, SignedSubmission } from "./types.js";
import { stakeTooLow, type StakeFacts } from "./stake.js";

/** A round as intake sees it. */
export interface IntakeRound {
  round: number;
  state: RoundState;
}

/** What is known about a submission before its signature is checked (all cheap lookups). */
export interface IntakeEnvelopeFacts {
  sealedBytes: number;
  maxBlobBytes: number;
  /** The job's latest round, or null when it has none. */
  latest: IntakeRound | null;
  /** The round the submission names (the latest one, another, or null when the job has no such round). */
  asked: IntakeRound | null;
  registered: boolean;
}

/** What is known once the signature verified. */
export interface IntakeIdentityFacts {
  /** The job's model fingerprint. */
  fingerprint: string;
  /** Whether this address already has a submission in the round. */
  duplicate: boolean;
}

/** What is known once the sealed delta was opened and decoded. */
export interface IntakeDeltaFacts {
  sampleCount: number;
}

/** What is known inside the committing transaction. */
export interface IntakeCommitFacts {
  state: RoundState;
  /** Submissions already in the round. */
  count: number;
  maxContributors: number | null;
}

export type IntakeDecision = { accept: true } | { accept: false; rejection: DatError };

/** A sealed delta is present and within the size limit. */
export function checkBlobSize(facts: Pick<IntakeEnvelopeFacts, "sealedBytes" | "maxBlobBytes">): DatError | null {
  if (facts.sealedBytes === 0) return new MalformedInputError("The submission carries no sealed delta.", { code: "SUBMISSION_EMPTY_BLOB" });
  if (facts.sealedBytes > facts.maxBlobBytes) {
    return new MalformedInputError(`The sealed delta is ${facts.sealedBytes} bytes, above the limit of ${facts.maxBlobBytes}.`, {
      code: "SUBMISSION_TOO_LARGE",
    });
  }
  return null;
}

/** Size and presence of the sealed delta, the round, the registration. */
export function checkEnvelope(s: SignedSubmission, facts: IntakeEnvelopeFacts): DatError | null {
  const size = checkBlobSize(facts);
  if (size) return size;
  const round = facts.latest;
  if (!round || round.round !== s.round || !acceptsSubmissions(round.state)) {
    const asked = facts.asked;
    return new UserError(
      asked ? `Round ${s.round} of job ${s.jobId} is ${asked.state}, not collecting submissions.` : `Job ${s.jobId} has no round ${s.round}.`,
      {
        code: "SUBMISSION_WRONG_ROUND",
        hint: `Pull the current round and train again: dat train --job ${s.jobId}`,
        data: { jobId: s.jobId, round: s.round, current: round && acceptsSubmissions(round.state) ? round.round : null },
      },
    );
  }
  if (!facts.registered) {
    return new DeniedError(`${s.address} is not a registered node.`, { code: "NODE_NOT_REGISTERED", hint: "Register first: dat node register" });
  }
  return null;
}

/** The address is not in the on-chain registry (when one is required). */
export function notOnchain(address: Hex): DeniedError {
  return new DeniedError(`${address} is not registered in the on-chain node registry.`, {
    code: "NODE_NOT_ONCHAIN",
    hint: "Register on-chain first: dat node register --onchain",
    data: { address },
  });
}

/**
 * The address's stake in the job met the job's minimum at the round's stake block (stake.ts);
 * a job without a minimum stake (trusted group) passes.
 */
export function checkStake(s: SignedSubmission, facts: StakeFacts): DatError | null {
  if (facts.required === null) return null;
  if (facts.unavailable || facts.held < facts.required) return stakeTooLow(s.address, s.jobId, facts);
  return null;
}

/** Trained on the job's model, and the first submission of this address in the round. */
export function checkIdentity(s: SignedSubmission, facts: IntakeIdentityFacts): DatError | null {
  if (s.fingerprint.toLowerCase() !== facts.fingerprint.toLowerCase()) {
    return new MalformedInputError("The delta was trained on another model (fingerprint mismatch).", {
      code: "FINGERPRINT_MISMATCH",
      hint: `Pull the job's model again: dat model pull --job ${s.jobId}`,
    });
  }
  if (facts.duplicate) return duplicateSubmission(s);
  return null;
}

/** The opened delta agrees with the signed message and carries something. */
export function checkDelta(s: SignedSubmission, facts: IntakeDeltaFacts): DatError | null {
  if (facts.sampleCount !== s.sampleCount) {
    return new MalformedInputError(`The delta says ${facts.sampleCount} samples, the signed submission ${s.sampleCount}.`, {
      code: "SUBMISSION_SAMPLE_MISMATCH",
    });
  }
  if (facts.sampleCount < 1) return new MalformedInputError("A delta trained on zero samples carries nothing.", { code: "SUBMISSION_NO_SAMPLES" });
  return null;
}

/** Inside the committing transaction: the round still collects and has room. */
export function checkCommit(s: SignedSubmission, facts: IntakeCommitFacts): DatError | null {
  if (!acceptsSubmissions(facts.state)) {
    return new UserError(`Round ${s.round} of job ${s.jobId} closed while the submission arrived.`, { code: "SUBMISSION_WRONG_ROUND" });
  }
  if (facts.maxContributors !== null && facts.count >= facts.maxContributors) {
    return new UserError(`Round ${s.round} of job ${s.jobId} already has ${facts.maxContributors} submissions.`, { code: "ROUND_FULL" });
  }
  return null;
}

/** A second submission of one address to one round. */
export function duplicateSubmission(s: SignedSubmission): UserError {
  return new UserError(`${s.address} already submitted to round ${s.round} of job ${s.jobId}.`, {
    code: "SUBMISSION_DUPLICATE",
    hint: "One submission per address per round; a second one is rejected, not merged.",
    data: { jobId: s.jobId, round: s.round, address: s.address },
  });
}

export interface IntakeFacts extends IntakeEnvelopeFacts, IntakeIdentityFacts, IntakeDeltaFacts {
  /** The signature check's verdict: null when it verified, else its error. */
  signatureError: DatError | null;
  /** Whether the on-chain registry (when required) lists the address. */
  onchain: boolean;
  /** The stake facts (stake.ts); absent = the job needs no stake. */
  stake?: StakeFacts;
  commit: Omit<IntakeCommitFacts, "state"> & { state?: RoundState };
}

/**
 * The whole intake decision, every check in order: accept, or the first typed rejection.
 * @param s the signed submission (already schema-checked)
 * @param facts everything gathered about it (see the stage functions for each group)
 */
export function decideIntake(s: SignedSubmission, facts: IntakeFacts): IntakeDecision {
  const rejection = checkEnvelope(s, facts)
    ?? facts.signatureError
    ?? (facts.onchain ? null : notOnchain(s.address))
    ?? (facts.stake ? checkStake(s, facts.stake) : null)
    ?? checkIdentity(s, facts)
    ?? checkDelta(s, facts)
    ?? checkCommit(s, { ...facts.commit, state: facts.commit.state ?? facts.latest!.state });
  return rejection ? { accept: false, rejection } : { accept: true };
}
