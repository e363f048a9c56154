/**
 * Privacy spent by a DP job (issue 4), pure: the ε spent, at δ = 1e-5, by the Gaussian mechanism the
 * contributors apply to their deltas (src/core/privacy), per contributor and per round.
 *
 * Sampling-rate assumption: q = 1. Each contributor clips its WHOLE delta and adds noise once per
 * round it takes part in (user-level local DP, not per-step DP-SGD), so its data is always "in"
 * the mechanism; and contributors choose themselves to join a round (the orchestrator samples no
 * one), so no amplification by subsampling is claimed. With q = 1 the sampled Gaussian RDP is the
 * plain Gaussian's, α / (2σ²) per round, composed over the rounds a contributor took part in.
 * The per-round figure of a job is the worst case: a contributor who took part in every published
 * round up to it. A job that clips without noise has no ε guarantee (reported as null).
 */
import { computeEpsilon } from "./rdp.js";

/** δ at which ε is reported. */
export const PRIVACY_DELTA = 1e-5;
/** See the module comment. */
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
}

/** ε (at δ = 1e-5) of `rounds` releases of a clipped delta with Gaussian noise σ = noiseMultiplier·clip. */
export function privacySpent(dp: { clip: number; noise: number }, rounds: number): PrivacyReport {
  const base = { delta: PRIVACY_DELTA, rounds, noiseMultiplier: dp.noise, clipNorm: dp.clip, sampleRate: PRIVACY_SAMPLE_RATE };
  if (rounds === 0) return { ...base, epsilon: 0 };
  if (!(dp.noise > 0)) return { ...base, epsilon: null };
  const spent = computeEpsilon({ sampleRate: PRIVACY_SAMPLE_RATE, noiseMultiplier: dp.noise, steps: rounds }, PRIVACY_DELTA);
  return { ...base, epsilon: Number.isFinite(spent.epsilon) ? spent.epsilon : null };
}
