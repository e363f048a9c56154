import { MalformedInputError, UserError } from "../errors.js";

/** Options of `boundedWeights`. */
export interface BoundedWeightsOptions {
  /** The job's `--max-samples` cap, when it has one: no claim counts for more. */
  maxSamples?: number;
  /** k in `cap = k × median(claims)`. Default 2. */
  multiple?: number;
}

/** Outcome of `boundedWeights`. */
export interface BoundedWeightsResult {
  /** `min(claimᵢ, cap)`, in input order: the FedAvg weights to use. */
  weights: number[];
  /** The cap applied: `min(maxSamples, k × median(claims))`. */
  cap: number;
  /** Indexes of the claims the cap lowered (for the round's metrics and audits). */
  capped: number[];
}

/** Default k of the `k × median` cap. */
export const DEFAULT_WEIGHT_MULTIPLE = 2;

/**
 * Bounds self-reported sample counts before they become FedAvg-family weights:
 * `weightᵢ = min(claimᵢ, cap)`, `cap = min(maxSamples if set, k × median of the round's claims)`, k = 2.
 *
 * Why this rule: a claim cannot be checked, so no contributor may weigh more than a contributor
 * with an ordinary amount of data could. The median is the statistic one liar cannot move (an
 * inflated claim of 10⁹ shifts it by at most one rank), so a single liar's weight is at most k
 * times a typical honest weight, and never above any honest contributor's possible weight: every
 * weight, honest or not, is ≤ cap. Honest contributors keep their true proportions up to twice the
 * median, which is what FedAvg's weighting is for (unlike equal weights, which throw it away).
 * The median is the lower one for an even count (the more conservative). A majority of colluding
 * claims can move the median; a job cap (`--max-samples`) bounds that case too.
 *
 * @throws MalformedInputError AGGREGATE_BAD_CLAIM when a claim is not a finite number > 0 (data.index);
 *         UserError AGGREGATE_BAD_OPTION for a bad maxSamples or multiple; UserError AGGREGATE_TOO_FEW for no claims.
 */
export function boundedWeights(claims: readonly number[], options: BoundedWeightsOptions = {}): BoundedWeightsResult {
  if (claims.length === 0) {
    throw new UserError("No sample counts to bound.", { code: "AGGREGATE_TOO_FEW", hint: "Pass the claims of the round's accepted submissions." });
  }
  claims.forEach((c, index) => {
    if (typeof c !== "number" || !Number.isFinite(c) || c <= 0) {
      throw new MalformedInputError(`Sample count #${index} is ${String(c)}; it must be a finite number > 0.`, {
        code: "AGGREGATE_BAD_CLAIM",
        hint: "Reject the submission at intake; a sample count must be a positive integer.",
        data: { index },
      });
    }
  });
  const k = options.multiple ?? DEFAULT_WEIGHT_MULTIPLE;
  if (typeof k !== "number" || !Number.isFinite(k) || k < 1) {
    throw new UserError(`The weight cap multiple must be a finite number ≥ 1, got ${String(k)}.`, {
      code: "AGGREGATE_BAD_OPTION",
      data: { param: "multiple" },
    });
  }
  const max = options.maxSamples;
  if (max !== undefined && (typeof max !== "number" || !Number.isFinite(max) || max <= 0)) {
    throw new UserError(`maxSamples must be a finite number > 0, got ${String(max)}.`, {
      code: "AGGREGATE_BAD_OPTION",
      hint: "dat job create --max-samples <n> takes a positive whole number.",
      data: { param: "maxSamples" },
    });
  }
  const sorted = [...claims].sort((a, b) => a - b);
  const median = sorted[(sorted.length - 1) >>> 1];
  const cap = Math.min(max ?? Infinity, k * median);
  const capped: number[] = [];
  const weights = claims.map((c, i) => {
    if (c > cap) capped.push(i);
    return Math.min(c, cap);
  });
  return { weights, cap, capped };
}
