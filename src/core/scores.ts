/**
 * Contribution scores of the accepted submissions of a round; the rewards split turns them into
 * payments. Pure: the caller computes anything that needs a model (validation losses) and passes
 * plain numbers in.
 *
 * Formula, for contributor i with delta Δᵢ and the round's aggregate delta Δ:
 *
 *   agreementᵢ = max(0, cos(Δᵢ, Δ))                    (0 when either vector is zero)
 *   magnitudeᵢ = min(1, median_j ‖Δⱼ‖ / ‖Δᵢ‖)            (1 when ‖Δᵢ‖ = 0)
 *   gainᵢ      = max(0, L_ref − Lᵢ)   kind "alone":         Lᵢ = validation loss of global + Δᵢ alone,
 *                                                          L_ref = loss of the current global model
 *              = max(0, Lᵢ − L_ref)   kind "leave-one-out": Lᵢ = loss of the aggregate without i,
 *                                                          L_ref = loss of the full aggregate
 *                (a non-finite Lᵢ — the delta blew the model up — counts as no gain)
 *   valueᵢ     = gainᵢ / max_j gainⱼ                      (0 when nobody improved the loss)
 *   scoreᵢ     = magnitudeᵢ · ((1 − λ)·agreementᵢ + λ·valueᵢ)   with validation numbers (λ default 0.5)
 *              = magnitudeᵢ · agreementᵢ                        without
 *
 * Every score lies in [0, 1]. A sign-flipped update points away from the aggregate (agreement 0)
 * and does not lower the loss (value 0); a scaled-up update keeps its direction but its norm is far
 * above the median, so the magnitude factor divides its score by the scale. The median (not the
 * mean) of the norms is the reference so that one huge update cannot raise the bar for everyone.
 * Scores measure quality, not quantity: sample counts are self-reported and do not enter here.
 */
import { MalformedInputError, UserError } from "./errors.js";

/** Per-contributor numbers the score is computed from (see `deltaAgreement` to get them). */
export interface ContributionStats {
  id: string;
  /** cos(Δᵢ, Δ) in [−1, 1]; 0 when either vector is zero. */
  cosine: number;
  /** ‖Δᵢ‖₂ ≥ 0. */
  norm: number;
}

/** Validation-loss numbers computed by the caller (optional). */
export interface ValidationEffect {
  /** "alone": loss of global + Δᵢ; "leave-one-out": loss of the aggregate without i. */
  kind: "alone" | "leave-one-out";
  /** "alone": loss of the current global model; "leave-one-out": loss of the full aggregate. */
  referenceLoss: number;
  /** Lᵢ by contributor id; every scored id must be present. */
  losses: Readonly<Record<string, number>>;
}

/** Options of `computeContributionScores`. */
export interface ContributionScoreOptions {
  validation?: ValidationEffect;
  /** λ in [0, 1]: weight of the validation value against agreement. Default 0.5. */
  validationWeight?: number;
}

/** One contributor's score and its parts (kept for `dat round status` and audits). */
export interface ContributionScore {
  id: string;
  /** Final score in [0, 1]. */
  score: number;
  agreement: number;
  magnitude: number;
  /** Normalised validation value in [0, 1], when validation numbers were given. */
  value?: number;
}

/**
 * cos(Δᵢ, Δ) and ‖Δᵢ‖ in one pass over the two vectors (float64 sums). Pass `aggregateNormSq`
 * (‖Δ‖², e.g. from `squaredNorm`) when scoring many deltas against the same aggregate.
 * Suits a streaming caller: decode each delta again after aggregation and keep only these numbers.
 * @throws MalformedInputError SCORES_LENGTH_MISMATCH when the lengths differ.
 */
export function deltaAgreement(
  id: string,
  delta: Float32Array,
  aggregate: Float32Array,
  aggregateNormSq: number = squaredNorm(aggregate),
): ContributionStats {
  if (delta.length !== aggregate.length) {
    throw new MalformedInputError(
      `Delta of ${id} has ${delta.length} values, the aggregate ${aggregate.length}.`,
      { code: "SCORES_LENGTH_MISMATCH", data: { id } },
    );
  }
  let dot0 = 0;
  let dot1 = 0;
  let nn0 = 0;
  let nn1 = 0;
  const n = delta.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const x0 = delta[i];
    const x1 = delta[i + 1];
    dot0 += x0 * aggregate[i];
    dot1 += x1 * aggregate[i + 1];
    nn0 += x0 * x0;
    nn1 += x1 * x1;
  }
  if (i < n) {
    dot0 += delta[i] * aggregate[i];
    nn0 += delta[i] * delta[i];
  }
  const normSq = nn0 + nn1;
  const norm = Math.sqrt(normSq);
  const denom = norm * Math.sqrt(aggregateNormSq);
  const cosine = denom > 0 ? Math.max(-1, Math.min(1, (dot0 + dot1) / denom)) : 0;
  return { id, cosine, norm };
}

/** ‖x‖₂² with a float64 sum. */
export function squaredNorm(x: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  const n = x.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    s0 += x[i] * x[i];
    s1 += x[i + 1] * x[i + 1];
  }
  if (i < n) s0 += x[i] * x[i];
  return s0 + s1;
}

/**
 * Scores from per-contributor numbers (formula in the module comment). Output order = input order.
 * @throws MalformedInputError SCORES_BAD_INPUT for non-finite / out-of-range stats or duplicate ids;
 *         UserError SCORES_BAD_OPTION for a bad λ, a non-finite reference loss or a missing loss.
 */
export function computeContributionScores(
  stats: readonly ContributionStats[],
  options: ContributionScoreOptions = {},
): ContributionScore[] {
  const seen = new Set<string>();
  for (const s of stats) {
    const bad = (reason: string): MalformedInputError =>
      new MalformedInputError(`Cannot score ${String(s?.id)}: ${reason}.`, {
        code: "SCORES_BAD_INPUT",
        data: { id: s?.id, reason },
      });
    if (typeof s?.id !== "string" || s.id === "") throw bad("missing id");
    if (seen.has(s.id)) throw bad("id appears twice");
    seen.add(s.id);
    if (!Number.isFinite(s.cosine) || s.cosine < -1 - 1e-9 || s.cosine > 1 + 1e-9) throw bad("cosine outside [-1, 1]");
    if (!Number.isFinite(s.norm) || s.norm < 0) throw bad("norm must be finite and ≥ 0");
  }
  const lambda = options.validationWeight ?? 0.5;
  if (!Number.isFinite(lambda) || lambda < 0 || lambda > 1) {
    throw new UserError(`Validation weight must be in [0, 1], got ${String(lambda)}.`, {
      code: "SCORES_BAD_OPTION",
      data: { param: "validationWeight" },
    });
  }
  const medianNorm = median(stats.map((s) => s.norm));
  const values = options.validation === undefined ? undefined : validationValues(stats, options.validation);
  return stats.map((s, index) => {
    const agreement = Math.max(0, Math.min(1, s.cosine));
    const magnitude = s.norm > 0 ? Math.min(1, medianNorm / s.norm) : 1;
    if (values === undefined) return { id: s.id, score: magnitude * agreement, agreement, magnitude };
    const value = values[index];
    return { id: s.id, score: magnitude * ((1 - lambda) * agreement + lambda * value), agreement, magnitude, value };
  });
}

/**
 * Convenience over whole deltas: `deltaAgreement` for each, then `computeContributionScores`.
 * @throws as those two.
 */
export function scoreContributions(
  updates: readonly { id: string; delta: Float32Array }[],
  aggregate: Float32Array,
  options: ContributionScoreOptions = {},
): ContributionScore[] {
  const aggNormSq = squaredNorm(aggregate);
  return computeContributionScores(
    updates.map((u) => deltaAgreement(u.id, u.delta, aggregate, aggNormSq)),
    options,
  );
}

/**
 * Each contributor's validation gain (`ValidationEffect`), normalised by the largest gain to [0, 1]
 * (all 0 when nobody improved the loss), in the order of `stats`.
 * @throws UserError SCORES_BAD_OPTION for a non-finite reference loss, an unknown kind or a missing loss.
 */
export function validationValues(stats: readonly { id: string }[], validation: ValidationEffect): number[] {
  if (!Number.isFinite(validation.referenceLoss)) {
    throw new UserError(`Reference validation loss must be finite, got ${String(validation.referenceLoss)}.`, {
      code: "SCORES_BAD_OPTION",
      data: { param: "referenceLoss" },
    });
  }
  if (validation.kind !== "alone" && validation.kind !== "leave-one-out") {
    throw new UserError(`Unknown validation kind ${String(validation.kind)}.`, {
      code: "SCORES_BAD_OPTION",
      data: { param: "kind" },
    });
  }
  const gains = stats.map((s) => {
    if (!Object.prototype.hasOwnProperty.call(validation.losses, s.id) || typeof validation.losses[s.id] !== "number") {
      throw new UserError(`No validation loss given for ${s.id}.`, { code: "SCORES_BAD_OPTION", data: { param: "losses", id: s.id } });
    }
    const loss = validation.losses[s.id];
    // A delta that made the loss NaN or infinite improved nothing.
    if (!Number.isFinite(loss)) return 0;
    const gain = validation.kind === "alone" ? validation.referenceLoss - loss : loss - validation.referenceLoss;
    return Math.max(0, gain);
  });
  const best = gains.reduce((a, b) => Math.max(a, b), 0);
  return gains.map((g) => (best > 0 ? g / best : 0));
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >>> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
