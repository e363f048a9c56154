/**
 * Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019,
 * "Rényi Differential Privacy of the Sampled Gaussian Mechanism"), at integer orders α ≥ 2 — the
 * same bound as TF-Privacy's `_compute_log_a_int` and Opacus's RDP accountant:
 *   RDP(α) = log( Σ_{k=0..α} C(α,k) (1−q)^{α−k} q^k exp((k²−k) / (2σ²)) ) / (α − 1)
 * with q the sampling rate and σ the noise multiplier (noise stddev / clip norm). Steps compose
 * by adding RDP. The conversion to (ε, δ) is the one Opacus and TF-Privacy use (Balle et al. 2020):
 *   ε = min_α  RDP(α) + log((α−1)/α) − (log δ + log α) / (α − 1).
 */

/** Default integer orders: dense where the optimum usually lies, sparse above. */
export const DEFAULT_ORDERS: readonly number[] = [
  ...Array.from({ length: 63 }, (_, i) => i + 2),
  72, 80, 96, 128, 160, 192, 256, 384, 512,
];

function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** RDP of one step of the sampled Gaussian mechanism at integer order alpha. */
export function rdpSampledGaussian(q: number, noiseMultiplier: number, alpha: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate must be in [0, 1], got ${q}`);
  if (!(noiseMultiplier > 0)) throw new RangeError(`noise multiplier must be positive, got ${noiseMultiplier}`);
  if (!Number.isInteger(alpha) || alpha < 2) throw new RangeError(`order must be an integer ≥ 2, got ${alpha}`);
  if (q === 0) return 0;
  const s2 = noiseMultiplier * noiseMultiplier;
  if (q === 1) return alpha / (2 * s2);
  let logA = -Infinity;
  let logBinomial = 0;
  for (let k = 0; k <= alpha; k++) {
    const term = logBinomial + k * Math.log(q) + (alpha - k) * Math.log1p(-q) + (k * k - k) / (2 * s2);
    logA = logAdd(logA, term);
    // C(α, k+1) = C(α, k) · (α − k) / (k + 1), kept in log space to avoid overflow at large α.
    logBinomial += Math.log(alpha - k) - Math.log(k + 1);
  }
  return logA / (alpha - 1);
}

export interface PrivacySpent {
  epsilon: number;
  delta: number;
  /** Order at which the bound was tightest. */
  order: number;
}

/** Best (ε, δ) from RDP values at the given orders. */
export function rdpToEpsilon(rdp: readonly number[], orders: readonly number[], delta: number): PrivacySpent {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  let best: PrivacySpent = { epsilon: Infinity, delta, order: orders[0] };
  orders.forEach((a, i) => {
    const eps = rdp[i] + Math.log((a - 1) / a) - (Math.log(delta) + Math.log(a)) / (a - 1);
    if (eps < best.epsilon) best = { epsilon: Math.max(0, eps), delta, order: a };
  });
  return best;
}

export interface SampledGaussianParams {
  /** Probability that a record takes part in a step (batch size / data size, or clients sampled / clients). */
  sampleRate: number;
  noiseMultiplier: number;
  steps: number;
}

/**
 * ε spent for a given δ after `steps` applications of the sampled Gaussian mechanism.
 * Used per contributor (its local DP-SGD steps) and per round (the aggregate across rounds).
 */
export function computeEpsilon(params: SampledGaussianParams, delta: number, orders: readonly number[] = DEFAULT_ORDERS): PrivacySpent {
  if (!Number.isInteger(params.steps) || params.steps < 0) throw new RangeError(`steps must be a non-negative integer, got ${params.steps}`);
  const rdp = orders.map((a) => params.steps * rdpSampledGaussian(params.sampleRate, params.noiseMultiplier, a));
  return rdpToEpsilon(rdp, orders, delta);
}

/**
 * Running RDP ledger: record each round's mechanism (possibly with different parameters) and read
 * the cumulative ε at any time. Keep one per contributor and one for the job.
 */
export class RdpAccountant {
  private readonly rdp: number[];
  private rounds = 0;

  constructor(readonly orders: readonly number[] = DEFAULT_ORDERS) {
    this.rdp = orders.map(() => 0);
  }

  /** Records `steps` steps of the sampled Gaussian mechanism. */
  step(sampleRate: number, noiseMultiplier: number, steps = 1): void {
    this.orders.forEach((a, i) => (this.rdp[i] += steps * rdpSampledGaussian(sampleRate, noiseMultiplier, a)));
    this.rounds += 1;
  }

  /** Number of step() calls recorded (rounds). */
  get recorded(): number {
    return this.rounds;
  }

  /** Cumulative (ε, δ) so far. */
  spent(delta: number): PrivacySpent {
    return rdpToEpsilon(this.rdp, this.orders, delta);
  }
}
