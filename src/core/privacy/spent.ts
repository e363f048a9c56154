/**
 * Privacy spent by a DP job, pure: the ε, at δ = 1e-5, of the mechanism the contributors run on
 * their deltas (src/core/privacy), per contributor and per round.
 *
 * What dat runs: each contributor clips its WHOLE delta to norm C and adds N(0, σ²C²) per
 * coordinate itself, once per round it takes part in (user-level local DP, no subsampling: its
 * data is always "in" the mechanism, and the orchestrator samples no one, so no amplification is
 * claimed). Neighbouring relation (stated in the README): ONE contributor's data set replaced by
 * any other. Its clipped delta can then move anywhere in the ball of radius C, so the sensitivity
 * of one release is 2C, and ε is the exact Gaussian-DP figure of `localDpEpsilon` (rounded up).
 * For σ = 1, one round: ε ≈ 10.0 (the RDP accountant with sensitivity C, reported before, gave
 * 4.75 — too small for this relation). The per-round figure of a job is the worst case: a
 * contributor who took part in every published round up to it. A job that clips without noise
 * has no ε guarantee (reported as null).
 */
import { localDpEpsilon, DEFAULT_RELATION, type NeighbouringRelation } from "./localDp.js";

/** δ at which ε is reported. */
export const PRIVACY_DELTA = 1e-5;
/** See the module comment: no subsampling. */
export const PRIVACY_SAMPLE_RATE = 1;

export interface PrivacyReport {
  /** ε at `delta` after `rounds` rounds; null when the noise gives no guarantee (σ = 0). */
  epsilon: number | null;
  delta: number;
  /** Rounds composed. */
  rounds: number;
  noiseMultiplier: number;
  clipNorm: number;
  sampleRate: number;
  /** The neighbouring relation ε is for ("replace-one": sensitivity 2C). */
  relation: NeighbouringRelation;
}

/** ε (at δ = 1e-5, replace-one) of `rounds` releases of a clipped delta with Gaussian noise σ = noiseMultiplier·clip. */
export function privacySpent(dp: { clip: number; noise: number }, rounds: number): PrivacyReport {
  const base = {
    delta: PRIVACY_DELTA, rounds, noiseMultiplier: dp.noise, clipNorm: dp.clip, sampleRate: PRIVACY_SAMPLE_RATE, relation: DEFAULT_RELATION,
  };
  if (rounds === 0) return { ...base, epsilon: 0 };
  if (!(dp.noise > 0) || !Number.isFinite(dp.noise)) return { ...base, epsilon: null };
  const spent = localDpEpsilon({ noiseMultiplier: dp.noise, rounds, delta: PRIVACY_DELTA, relation: DEFAULT_RELATION });
  return { ...base, epsilon: Number.isFinite(spent.epsilon) ? spent.epsilon : null };
}
