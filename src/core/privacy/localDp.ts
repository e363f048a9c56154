/**
 * Honest ε for dat's local DP: every contributor clips its delta to L2 norm C and adds
 * N(0, σ²C²) to every coordinate itself, every round it takes part in (no subsampling: each of
 * its rounds releases one full Gaussian mechanism on its data).
 *
 * Neighbouring relation (the one the README states): two inputs are neighbours when ONE
 * contributor's data set is replaced by any other (replace-one). Its clipped delta can then move
 * anywhere in the ball of radius C, so the L2 sensitivity of one release is 2C, and one round is
 * the Gaussian mechanism with sensitivity-to-noise ratio μ = 2C/(σC) = 2/σ. Under add/remove-one
 * (a contributor present or absent, its delta replaced by 0) the sensitivity is C and μ = 1/σ.
 *
 * Rounds compose exactly as Gaussian differential privacy (Dong, Roth, Su 2022): T releases with
 * ratios μₜ are √(Σ μₜ²)-GDP, and μ-GDP holds at (ε, δ(ε)) for exactly
 *   δ(ε) = Φ(−ε/μ + μ/2) − e^ε · Φ(−ε/μ − μ/2)
 * (the analytic Gaussian mechanism, Balle & Wang 2018, with μ = Δ/σ). ε is the smallest value with
 * δ(ε) ≤ δ, found by bisection and rounded up, so the reported ε is never below the exact one.
 * For σ = 1, one round, δ = 1e-5: ε ≈ 10.0 under replace-one (the RDP accountant with
 * sensitivity C, which dat used to report, gave 4.75).
 */

/** Which pairs of inputs the guarantee distinguishes. */
export type NeighbouringRelation = "replace-one" | "add-remove-one";

/** The relation dat states and reports ε for. */
export const DEFAULT_RELATION: NeighbouringRelation = "replace-one";

/** L2 sensitivity of one clipped delta in units of the clip norm C: 2 (replace-one) or 1 (add/remove-one). */
export function sensitivityFactor(relation: NeighbouringRelation): number {
  if (relation === "replace-one") return 2;
  if (relation === "add-remove-one") return 1;
  throw new RangeError(`unknown neighbouring relation ${String(relation)}`);
}

/**
 * μ of one round (sensitivity / noise stddev) for a noise multiplier σ (stddev / clip norm).
 * @throws RangeError for σ ≤ 0 or non-finite, or an unknown relation.
 */
export function gaussianMu(noiseMultiplier: number, relation: NeighbouringRelation = DEFAULT_RELATION): number {
  if (!(noiseMultiplier > 0) || !Number.isFinite(noiseMultiplier)) {
    throw new RangeError(`noise multiplier must be a positive finite number, got ${noiseMultiplier}`);
  }
  return sensitivityFactor(relation) / noiseMultiplier;
}

/** δ(ε) of μ-GDP (the analytic Gaussian mechanism's exact privacy profile). */
export function gaussianDelta(epsilon: number, mu: number): number {
  if (mu === 0) return 0;
  // In log space: for large μ (weak noise) ε passes 709 and e^ε alone would overflow to Infinity,
  // which used to pin the reported ε at ln(MAX_VALUE) ≈ 709.78, below the true value.
  const a = logNormalCdf(-epsilon / mu + mu / 2);
  const b = epsilon + logNormalCdf(-epsilon / mu - mu / 2);
  if (a === -Infinity) return 0;
  return Math.max(0, Math.exp(a) * -Math.expm1(b - a));
}

/** log Φ(x), accurate far into the lower tail (asymptotic series below x = −30, where Φ underflows). */
function logNormalCdf(x: number): number {
  if (x > -30) return Math.log(normalCdf(x));
  const x2 = x * x;
  return -x2 / 2 - Math.log(-x) - 0.5 * Math.log(2 * Math.PI) + Math.log1p(-1 / x2 + 3 / (x2 * x2));
}

/**
 * Smallest ε ≥ 0 with δ(ε) ≤ `delta` for μ-GDP, rounded up (bisection keeps the upper end, then a
 * relative 1e-9 margin covers the rounding of Φ). Infinity when μ is infinite.
 * @throws RangeError for δ outside (0, 1) or a negative / NaN μ.
 */
export function epsilonForMu(mu: number, delta: number): number {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  if (!(mu >= 0)) throw new RangeError(`mu must be ≥ 0, got ${mu}`);
  if (mu === Infinity) return Infinity;
  if (gaussianDelta(0, mu) <= delta) return 0;
  let lo = 0;
  let hi = 1;
  while (gaussianDelta(hi, mu) > delta) {
    lo = hi;
    hi *= 2;
    if (hi > 1e15) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (gaussianDelta(mid, mu) > delta) lo = mid;
    else hi = mid;
  }
  return hi * (1 + 1e-9);
}

/** Parameters of `localDpEpsilon`. */
export interface LocalDpParams {
  /** σ = noise stddev / clip norm, per round; one number for every round or one per round. */
  noiseMultiplier: number | readonly number[];
  /** Rounds the contributor took part in (ignored when `noiseMultiplier` is a list). */
  rounds?: number;
  delta: number;
  relation?: NeighbouringRelation;
}

/** Outcome of `localDpEpsilon`. */
export interface LocalDpSpent {
  epsilon: number;
  delta: number;
  /** √(Σ μₜ²) over the rounds: the composed GDP parameter (store it to add rounds later). */
  mu: number;
  relation: NeighbouringRelation;
}

/**
 * ε of a contributor's local DP after its rounds (module comment). Zero rounds spend nothing.
 * @throws RangeError for a bad σ, round count, δ or relation.
 */
export function localDpEpsilon(params: LocalDpParams): LocalDpSpent {
  const relation = params.relation ?? DEFAULT_RELATION;
  const sigmas = typeof params.noiseMultiplier === "number"
    ? Array.from({ length: checkRounds(params.rounds ?? 1) }, () => params.noiseMultiplier as number)
    : [...params.noiseMultiplier];
  const mu = Math.sqrt(sigmas.reduce((sum, sigma) => sum + gaussianMu(sigma, relation) ** 2, 0));
  return { epsilon: epsilonForMu(mu, params.delta), delta: params.delta, mu, relation };
}

function checkRounds(rounds: number): number {
  if (!Number.isSafeInteger(rounds) || rounds < 0) throw new RangeError(`rounds must be a non-negative integer, got ${rounds}`);
  return rounds;
}

/**
 * Standard normal CDF with about 1e-15 relative accuracy in both tails: the Taylor series of erf
 * near 0, the continued fraction of erfc (Lentz) in the tails, where the probabilities that decide
 * ε live (Φ(−6) ≈ 1e-9).
 */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x > 0) return 1 - normalCdf(-x);
  const z = -x / Math.SQRT2;
  return z < 3 ? 0.5 * (1 - erfSeries(z)) : 0.5 * erfcContinuedFraction(z);
}

function erfSeries(z: number): number {
  // erf(z) = 2/√π · Σ (−1)ⁿ z^(2n+1) / (n! (2n+1))
  let term = z;
  let sum = z;
  for (let n = 1; n < 200; n++) {
    term *= (-z * z) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

function erfcContinuedFraction(z: number): number {
  // erfc(z) = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))), evaluated by modified Lentz.
  const tiny = 1e-300;
  let f = z;
  let c = z;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = z + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = z + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}
