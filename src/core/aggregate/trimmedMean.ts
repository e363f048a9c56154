import { UserError } from "../errors.js";
import { createBufferedAccumulator } from "./buffered.js";
import { BLOCK, gatherBlock, selectKth } from "./select.js";
import type { AggregateResult, ClientUpdate, Strategy } from "./types.js";
import { validateUpdates } from "./validate.js";

/** Parameters of the trimmed mean. */
export interface TrimmedMeanOptions {
  /** Fraction trimmed on EACH side, in [0, 0.5). k = ⌊β·n⌋ values are dropped per side. Default 0.1. */
  beta: number;
}

/**
 * Coordinate-wise β-trimmed mean (Yin et al. 2018): for each coordinate, drop the k = ⌊β·n⌋
 * smallest and k largest values and average the remaining n − 2k (unweighted: sample counts are
 * self-reported). With β = 0 it is the plain mean.
 * @throws UserError AGGREGATE_TOO_FEW when nothing would remain; MalformedInputError on invalid updates.
 */
export function aggregateTrimmedMean(updates: readonly ClientUpdate[], options: TrimmedMeanOptions): Float32Array {
  const length = validateUpdates(updates, 1, "trimmed-mean");
  const vectors = updates.map((u) => u.delta);
  const n = vectors.length;
  const beta = options.beta;
  if (typeof beta !== "number" || !(beta >= 0 && beta < 0.5)) {
    throw new UserError(`Trimmed-mean beta must be in [0, 0.5), got ${String(beta)}.`, {
      code: "STRATEGY_BAD_PARAM",
      hint: "beta is the fraction trimmed on each side, e.g. beta=0.1.",
      data: { param: "beta" },
    });
  }
  const k = Math.floor(beta * n);
  // β < 0.5 guarantees n − 2k ≥ 1 for every n ≥ 1.
  const kept = n - 2 * k;
  const out = new Float32Array(length);
  const col = new Float64Array(BLOCK * n);
  for (let start = 0; start < length; start += BLOCK) {
    const count = Math.min(BLOCK, length - start);
    gatherBlock(vectors, start, count, col);
    for (let t = 0; t < count; t++) {
      const lo = t * n;
      const hi = lo + n;
      if (k > 0) {
        selectKth(col, lo, hi, lo + k); // the k smallest now sit in [lo, lo + k)
        selectKth(col, lo + k, hi, hi - k); // and the k largest of the rest in [hi − k, hi)
      }
      let sum = 0;
      for (let q = lo + k; q < hi - k; q++) sum += col[q];
      out[start + t] = sum / kept;
    }
  }
  return out;
}

/** Trimmed mean as a `Strategy` (buffers every update: O(contributors × model)). */
export function createTrimmedMeanStrategy(options: TrimmedMeanOptions): Strategy {
  const run = (updates: readonly ClientUpdate[]): AggregateResult => ({
    delta: aggregateTrimmedMean(updates, options),
    selected: updates.map((u) => u.id),
  });
  return {
    name: "trimmed-mean",
    params: { beta: options.beta },
    streaming: false,
    minUpdates: () => 1,
    aggregate: run,
    createAccumulator: (length: number) => createBufferedAccumulator(length, "trimmed-mean", run),
  };
}
