import { createBufferedAccumulator } from "./buffered.js";
import { BLOCK, gatherBlock, selectKth } from "./select.js";
import type { AggregateResult, ClientUpdate, Strategy } from "./types.js";
import { validateUpdates } from "./validate.js";

/**
 * Coordinate-wise median (Yin et al. 2018): for each coordinate, the median of the n values
 * (the mean of the two middle ones when n is even). Sample counts are deliberately ignored —
 * they are self-reported, and letting them weigh in would hand an attacker the median.
 * Robust to up to ⌈n/2⌉ − 1 arbitrary updates per coordinate.
 * @throws UserError AGGREGATE_TOO_FEW on an empty list; MalformedInputError on invalid updates.
 */
export function aggregateMedian(updates: readonly ClientUpdate[]): Float32Array {
  const length = validateUpdates(updates, 1, "median");
  const vectors = updates.map((u) => u.delta);
  const n = vectors.length;
  const out = new Float32Array(length);
  const col = new Float64Array(BLOCK * n);
  const half = n >>> 1;
  const even = n % 2 === 0;
  for (let start = 0; start < length; start += BLOCK) {
    const count = Math.min(BLOCK, length - start);
    gatherBlock(vectors, start, count, col);
    for (let t = 0; t < count; t++) {
      const lo = t * n;
      selectKth(col, lo, lo + n, lo + half);
      let value = col[lo + half];
      if (even) {
        // After selection everything left of the middle is ≤ it: the lower middle is their maximum.
        let lower = col[lo];
        for (let q = lo + 1; q < lo + half; q++) if (col[q] > lower) lower = col[q];
        value = (value + lower) / 2;
      }
      out[start + t] = value;
    }
  }
  return out;
}

/** Coordinate-wise median as a `Strategy` (buffers every update: O(contributors × model)). */
export function createMedianStrategy(): Strategy {
  const run = (updates: readonly ClientUpdate[]): AggregateResult => ({
    delta: aggregateMedian(updates),
    selected: updates.map((u) => u.id),
  });
  return {
    name: "median",
    params: {},
    streaming: false,
    minUpdates: () => 1,
    aggregate: run,
    createAccumulator: (length: number) => createBufferedAccumulator(length, "median", run),
  };
}
