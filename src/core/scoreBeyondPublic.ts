/**
 * Contribution scores that pay only for what a delta adds beyond public information.
 *
 * Anyone can compute the previous round's global update u (two public model CIDs apart), a zero
 * delta, or noise, and a Sybil can submit one training run from many wallets. None of these may
 * earn. For contributor i with delta Δᵢ (all numbers come from one Gram matrix of inner products):
 *
 *   residual     rᵢ = Δᵢ − (⟨Δᵢ,u⟩/‖u‖²)·u              (rᵢ = Δᵢ when there is no previous update)
 *   zero         ‖Δᵢ‖ ≤ zeroTolerance · median_j ‖Δⱼ‖                           → score 0, flag "zero"
 *   free-ride    ‖rᵢ‖ < freeRideResidual · ‖Δᵢ‖  (Δᵢ is, up to scale, the public u) → score 0, flag "free-ride"
 *   duplicates   residual cosine > duplicateCosine (after removing u): one group, one vote,
 *                its score split between its members, the group's total capped at the
 *                median score of the unflagged contributors                      → flag "duplicate"
 *   agreement    aᵢ = cos(r̂ᵢ, Σ_{other groups g} r̂_g / |g|), each other group one unit vote
 *                (leave-one-group-out; a scaled or sign-flipped attacker has one vote like anyone)
 *   relevance    ρᵢ = max_k cos(rᵢ, −g_k⊥) when the operator passes validation-loss gradients g_k at
 *                the base model (overall and per class; g_k⊥: g_k with u projected out): does the
 *                residual descend the held-out loss of some part of the population? Computed by the
 *                orchestrator, which alone holds the validation set.
 *   noise        |aᵢ| ≤ τ and ρᵢ ≤ τ (τ = noiseAgreement, default max(0.05, 4/√d), four standard
 *                deviations of the cosine of independent random directions in d dimensions): neither
 *                the peers nor the held-out data see anything but chance in it     → score 0, flag "noise"
 *   support      sᵢ = max(aᵢ⁺, ρᵢ⁺): the stronger of the two independent confirmations
 *   magnitude    mᵢ = min(1, median_j ‖Δⱼ‖ / ‖Δᵢ‖)
 *   score        mᵢ · sᵢ, blended with a validation value vᵢ when given: mᵢ·((1−λ)·sᵢ + λ·vᵢ)
 *
 * Why relevance: honest contributors on non-IID data (different label distributions) have residuals
 * that point toward their own classes, so their peer agreement can be near 0 or negative although
 * they carry real signal. Their delta alone may even raise the overall validation loss (a client
 * with classes {1, 2} pushes class 0 down), but it descends the validation loss of its own classes:
 * hence one gradient per class. A noise residual is independent of the validation data: each
 * relevance cosine is the cosine with a fixed direction, below τ as its agreement is (K + 1
 * directions: the chance that the largest passes 4σ stays under (K + 1)·3·10⁻⁵). Without gradients
 * (no validation set) the rule is peers only and can still starve a contributor whose data nobody
 * else has.
 *
 * Contributors flagged noise (or pointing against the rest with no support from the validation
 * gradient) are left out of the others' reference in a second pass, so they neither earn nor drag
 * honest agreement down. A round with a single independent contribution has no reference: its
 * agreement is taken as 1.
 *
 * What it does not do: under strong local DP noise every delta is close to noise by design and
 * scores collapse toward 0 for everyone; and when a round's honest consensus is exactly the
 * previous update, honest contributors are paid only for their (correlated) residuals.
 * Costs O(n²·d) time and needs every delta at once (as Krum and the median do).
 */
import { MalformedInputError, UserError } from "./errors.js";
import { validationValues, type ValidationEffect } from "./scores.js";

/** Why a contribution earns nothing (or only a share of one). */
export type ContributionFlag = "free-ride" | "zero" | "noise" | "duplicate";

/** Options of `scoreBeyondPublic`; every threshold has a default. */
export interface ScoreBeyondPublicOptions {
  /** The public previous global update (global model of this round − the one before), if any. */
  previousUpdate?: Float32Array;
  /** Residual cosine above which two deltas are copies. Default 0.99. */
  duplicateCosine?: number;
  /**
   * Copies are slashable evidence only this close to exact (smallest residual cosine in the group,
   * default 1 − 1e-6): one training run sent from several wallets is exact up to float rounding,
   * while honest contributors on easy IID data can agree past duplicateCosine (they then share one
   * share, but their stakes are never at risk).
   */
  duplicateSlashCosine?: number;
  /** ‖rᵢ‖/‖Δᵢ‖ below which Δᵢ is a (scaled) copy of the previous update. Default 0.1. */
  freeRideResidual?: number;
  /** Norm, relative to the median norm, at or below which a delta is zero. Default 1e-3. */
  zeroTolerance?: number;
  /** Agreement at or below which (in absolute value) a residual is noise. Default max(0.05, 4/√d). */
  noiseAgreement?: number;
  /**
   * Gradients of the validation loss at this round's base model (each as long as the deltas):
   * overall and per class, the operator's held-out evidence that a residual carries signal
   * (module comment, "relevance"). All-zero gradients are ignored.
   */
  validationGradients?: readonly Float32Array[];
  /** Validation-loss effect of each delta (as in `computeContributionScores`). */
  validation?: ValidationEffect;
  /** λ in [0, 1]: weight of the validation value. Default 0.5. */
  validationWeight?: number;
}

/** One contributor's score and what it was computed from. */
export interface ValueScore {
  id: string;
  /** In [0, 1]; a duplicate group's members share one group score. */
  score: number;
  /** The first reason the contribution is worth nothing or is shared; null for an ordinary one. */
  flag: ContributionFlag | null;
  /** Leave-one-group-out agreement of the residual, in [−1, 1] (0 when zero or free-ride). */
  agreement: number;
  /** max_k cos(rᵢ, −g_k⊥) over the validation gradients, in [−1, 1], when given (0 when zero or free-ride). */
  relevance?: number;
  magnitude: number;
  /** ‖rᵢ‖ / ‖Δᵢ‖: the share of the delta not explained by the public previous update. */
  residualRatio: number;
  /** Normalised validation value, when validation numbers were given. */
  value?: number;
}

/** Published evidence of a cheat, for the round's record and for slashing. */
export interface CheatEvidence {
  kind: ContributionFlag;
  /** The contributors involved (several for a duplicate group). */
  ids: string[];
  /**
   * True when the evidence is exact and anyone holding the deltas can recheck it: an all-zero
   * delta, an exact scaled copy of the public update (residual ratio < 1e-3), or copies (sealed
   * deltas are readable only by their sender and the operator, so copies imply collusion). Noise is
   * statistical and never slashable.
   */
  slashable: boolean;
  /** The number that decided it: residual ratio, norm ratio, smallest pairwise cosine or agreement. */
  measure: number;
}

/** Outcome of `scoreBeyondPublic`. */
export interface ScoreBeyondPublicResult {
  /** In input order. */
  scores: ValueScore[];
  evidence: CheatEvidence[];
}

/**
 * Scores the round's accepted deltas by what each adds beyond public information (module comment).
 * Call at round close with the deltas as aggregated and `previousUpdate` = this round's base model
 * minus the previous round's base model (undefined in the first round).
 * @throws MalformedInputError SCORES_BAD_INPUT (empty or repeated id, length mismatch, non-finite values);
 *         UserError SCORES_BAD_OPTION for a threshold out of range.
 */
export function scoreBeyondPublic(
  updates: readonly { id: string; delta: Float32Array }[],
  options: ScoreBeyondPublicOptions = {},
): ScoreBeyondPublicResult {
  const n = updates.length;
  if (n === 0) return { scores: [], evidence: [] };
  const d = checkInputs(updates, options.previousUpdate, options.validationGradients);
  const duplicateCosine = option(options.duplicateCosine, 0.99, "duplicateCosine", 0, 1);
  const duplicateSlashCosine = option(options.duplicateSlashCosine, 1 - 1e-6, "duplicateSlashCosine", 0, 1);
  const freeRideResidual = option(options.freeRideResidual, 0.1, "freeRideResidual", 0, 1);
  const zeroTolerance = option(options.zeroTolerance, 1e-3, "zeroTolerance", 0, 1);
  const noiseAgreement = option(options.noiseAgreement, Math.max(0.05, 4 / Math.sqrt(d)), "noiseAgreement", 0, 1);
  const lambda = option(options.validationWeight, 0.5, "validationWeight", 0, 1);

  const vectors = updates.map((u) => u.delta);
  const u = options.previousUpdate;
  const gradients = options.validationGradients;
  const gram = gramMatrix([...vectors, ...(u === undefined ? [] : [u]), ...(gradients ?? [])]);
  const m = gram.size;
  const g = (i: number, j: number): number => gram.values[i * m + j];
  const uu = u === undefined ? 0 : g(n, n);
  const firstGradient = n + (u === undefined ? 0 : 1);
  // Residual inner products ⟨rᵢ, rⱼ⟩ = ⟨Δᵢ,Δⱼ⟩ − ⟨Δᵢ,u⟩⟨Δⱼ,u⟩/‖u‖².
  const r = (i: number, j: number): number => (uu > 0 ? g(i, j) - (g(i, n) * g(j, n)) / uu : g(i, j));
  const norms = updates.map((_, i) => Math.sqrt(g(i, i)));
  const residualNorms = updates.map((_, i) => Math.sqrt(Math.max(0, r(i, i))));
  const medianNorm = median(norms.filter((x) => x > 0));

  const flags: (ContributionFlag | null)[] = updates.map(() => null);
  const evidence: CheatEvidence[] = [];
  const residualRatio = norms.map((x, i) => (x > 0 ? Math.min(1, residualNorms[i] / x) : 0));
  updates.forEach((update, i) => {
    if (norms[i] === 0 || norms[i] <= zeroTolerance * medianNorm) {
      flags[i] = "zero";
      evidence.push({ kind: "zero", ids: [update.id], slashable: norms[i] === 0, measure: medianNorm > 0 ? norms[i] / medianNorm : 0 });
    } else if (residualRatio[i] < freeRideResidual) {
      flags[i] = "free-ride";
      evidence.push({ kind: "free-ride", ids: [update.id], slashable: residualRatio[i] < 1e-3, measure: residualRatio[i] });
    }
  });

  const candidates = updates.map((_, i) => i).filter((i) => flags[i] === null);
  const cos = (i: number, j: number): number => r(i, j) / (residualNorms[i] * residualNorms[j]);
  // Relevance: max_k cos(rᵢ, −g_k⊥), with ⟨rᵢ, g_k⊥⟩ = r(i, k) (u projected out of both).
  const gradientIndices = (gradients ?? []).map((_, k) => firstGradient + k).filter((k) => r(k, k) > 0);
  const relevance = updates.map((_, i) => {
    if (gradientIndices.length === 0 || residualNorms[i] === 0 || flags[i] !== null) return 0;
    const best = Math.max(...gradientIndices.map((k) => -r(i, k) / (residualNorms[i] * Math.sqrt(r(k, k)))));
    return Math.max(-1, Math.min(1, best));
  });
  // Copies: single-linkage groups of residual cosine above the threshold.
  const parent = updates.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  for (let a = 0; a < candidates.length; a++) {
    for (let b = a + 1; b < candidates.length; b++) {
      const i = candidates[a];
      const j = candidates[b];
      if (cos(i, j) > duplicateCosine) parent[find(j)] = find(i);
    }
  }
  const groups = new Map<number, number[]>();
  for (const i of candidates) groups.set(find(i), [...(groups.get(find(i)) ?? []), i]);
  const groupList = [...groups.values()];
  for (const members of groupList) {
    if (members.length < 2) continue;
    let smallest = 1;
    for (const i of members) for (const j of members) if (i < j) smallest = Math.min(smallest, cos(i, j));
    for (const i of members) flags[i] = "duplicate";
    evidence.push({ kind: "duplicate", ids: members.map((i) => updates[i].id), slashable: smallest >= duplicateSlashCosine, measure: smallest });
  }

  // Each group's direction: the mean of its members' unit residuals; one unit vote per group.
  const groupDot = (a: number[], b: number[]): number => {
    let s = 0;
    for (const i of a) for (const j of b) s += cos(i, j);
    return s / (a.length * b.length);
  };
  const agreementOf = (voters: number[][]): Map<number[], number> => {
    const out = new Map<number[], number>();
    const self = new Map(groupList.map((grp) => [grp, groupDot(grp, grp)]));
    for (const grp of groupList) {
      const others = voters.filter((v) => v !== grp);
      let dot = 0;
      let refSq = 0;
      for (const a of others) {
        dot += groupDot(grp, a);
        for (const b of others) refSq += a === b ? self.get(a)! : groupDot(a, b);
      }
      const denom = Math.sqrt(self.get(grp)! * Math.max(0, refSq));
      out.set(grp, denom > 0 ? Math.max(-1, Math.min(1, dot / denom)) : 0);
    }
    return out;
  };
  const groupRelevance = (grp: number[]): number => grp.reduce((sum, i) => sum + relevance[i], 0) / grp.length;
  const first = agreementOf(groupList);
  // Second pass without the voters that look like noise or point against the rest, unless the
  // validation gradient vouches for them (a non-IID contributor stays in the others' reference).
  const trusted = groupList.filter((grp) => first.get(grp)! > noiseAgreement || groupRelevance(grp) > noiseAgreement);
  const agreement = trusted.length > 0 && trusted.length < groupList.length ? agreementOf(trusted) : first;

  const values = options.validation === undefined ? undefined : validationValues(updates, options.validation);
  const scores: ValueScore[] = updates.map((update, i) => ({
    id: update.id,
    score: 0,
    flag: flags[i],
    agreement: 0,
    ...(gradients === undefined ? {} : { relevance: relevance[i] }),
    magnitude: norms[i] > 0 && medianNorm > 0 ? Math.min(1, medianNorm / norms[i]) : 0,
    residualRatio: residualRatio[i],
    ...(values === undefined ? {} : { value: values[i] }),
  }));
  for (const members of groupList) {
    // A lone independent contribution has nothing to agree with: its validation value decides, else it keeps 1.
    const a = groupList.length === 1 ? 1 : agreement.get(members)!;
    for (const i of members) scores[i].agreement = a;
    if (Math.abs(a) <= noiseAgreement && groupRelevance(members) <= noiseAgreement) {
      for (const i of members) if (scores[i].flag === null) scores[i].flag = "noise";
      evidence.push({ kind: "noise", ids: members.map((i) => updates[i].id), slashable: false, measure: a });
      continue;
    }
    for (const i of members) {
      const s = scores[i];
      const support = Math.max(0, a, relevance[i]);
      const base = values === undefined ? support : (1 - lambda) * support + lambda * values[i];
      s.score = (s.magnitude * base) / members.length;
    }
  }
  // A group of copies earns at most one ordinary share: its total is capped at the median score
  // of the contributors that are neither flagged nor copied (when there are any).
  const ordinary = scores.filter((x) => x.flag === null).map((x) => x.score);
  if (ordinary.length > 0) {
    const share = median(ordinary);
    for (const members of groupList) {
      if (members.length < 2) continue;
      const total = members.reduce((sum, i) => sum + scores[i].score, 0);
      if (total > share) for (const i of members) scores[i].score *= share / total;
    }
  }
  return { scores, evidence };
}

/** A symmetric Gram matrix (row-major `size × size`, float64) of inner products. */
export interface GramMatrix {
  size: number;
  values: Float64Array;
}

/**
 * All pairwise inner products ⟨xᵢ, xⱼ⟩ with float64 sums, block by block over the coordinates so
 * each slice is read once per block. O(n²·d).
 */
export function gramMatrix(vectors: readonly Float32Array[]): GramMatrix {
  const size = vectors.length;
  const values = new Float64Array(size * size);
  const length = size === 0 ? 0 : vectors[0].length;
  const BLOCK = 2048;
  for (let start = 0; start < length; start += BLOCK) {
    const end = Math.min(length, start + BLOCK);
    for (let a = 0; a < size; a++) {
      const x = vectors[a];
      for (let b = a; b < size; b++) {
        const y = vectors[b];
        let s = 0;
        for (let i = start; i < end; i++) s += x[i] * y[i];
        values[a * size + b] += s;
      }
    }
  }
  for (let a = 0; a < size; a++) for (let b = a + 1; b < size; b++) values[b * size + a] = values[a * size + b];
  return { size, values };
}

function checkInputs(
  updates: readonly { id: string; delta: Float32Array }[],
  previous: Float32Array | undefined,
  gradients: readonly Float32Array[] | undefined,
): number {
  const seen = new Set<string>();
  const d = updates[0]?.delta?.length ?? 0;
  const bad = (id: unknown, reason: string): MalformedInputError =>
    new MalformedInputError(`Cannot score ${String(id)}: ${reason}.`, { code: "SCORES_BAD_INPUT", data: { id, reason } });
  for (const u of updates) {
    if (typeof u?.id !== "string" || u.id === "") throw bad(u?.id, "missing id");
    if (seen.has(u.id)) throw bad(u.id, "id appears twice");
    seen.add(u.id);
    if (!(u.delta instanceof Float32Array) || u.delta.length === 0) throw bad(u.id, "delta is not a non-empty Float32Array");
    if (u.delta.length !== d) throw bad(u.id, `delta has ${u.delta.length} values, expected ${d}`);
    if (!u.delta.every(Number.isFinite)) throw bad(u.id, "delta contains NaN or Infinity");
  }
  if (previous !== undefined) {
    if (!(previous instanceof Float32Array) || previous.length !== d) {
      throw bad("previousUpdate", `previous update has ${String(previous?.length)} values, expected ${d}`);
    }
    if (!previous.every(Number.isFinite)) throw bad("previousUpdate", "previous update contains NaN or Infinity");
  }
  for (const gradient of gradients ?? []) {
    if (!(gradient instanceof Float32Array) || gradient.length !== d) {
      throw bad("validationGradients", `a validation gradient has ${String(gradient?.length)} values, expected ${d}`);
    }
    if (!gradient.every(Number.isFinite)) throw bad("validationGradients", "a validation gradient contains NaN or Infinity");
  }
  return d;
}

function option(value: number | undefined, fallback: number, param: string, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new UserError(`Score option ${param} must be in [${min}, ${max}], got ${String(value)}.`, {
      code: "SCORES_BAD_OPTION",
      data: { param },
    });
  }
  return value;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >>> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
