/** Options of `coarsenSampleCount`. */
export interface CoarsenOptions {
  /** Whether the job runs local DP; without it the count is returned unchanged. */
  dp: boolean;
}

/**
 * The sample count a contributor reports. With DP on, the exact count would identify a data set
 * (and its change between rounds would reveal a record's arrival), so it is rounded DOWN to a
 * power of two: 1, 2, 4, 8, … . The choice: deterministic bucketing reveals only ⌊log₂ n⌋ — a few
 * bits, the same every round while the data set stays in one bucket — and needs no privacy budget
 * of its own, where a noised count would have to be accounted for and would change every round
 * (averaging rounds would undo it). Rounding down never lets a contributor claim more than it has;
 * FedAvg weights are bounded anyway (`boundedWeights`). The bucket itself is not covered by ε.
 * @throws RangeError when n is not a positive safe integer.
 */
export function coarsenSampleCount(n: number, options: CoarsenOptions): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`sample count must be a positive integer, got ${String(n)}`);
  if (!options.dp) return n;
  let bucket = 1;
  while (bucket * 2 <= n) bucket *= 2;
  return bucket;
}
