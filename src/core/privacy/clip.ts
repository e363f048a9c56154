/** L2 norm of several arrays taken as one vector (float64 accumulation). */
export function l2Norm(arrays: readonly Float32Array[]): number {
  let s = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

export interface ClipResult {
  arrays: Float32Array[];
  /** Norm before clipping. */
  norm: number;
  /** Factor applied (1 when the delta was already within the bound). */
  factor: number;
}

/**
 * Scales a delta (all its tensors as one vector) so that its L2 norm is at most maxNorm, as in
 * DP-FedAvg: bounding each contributor's influence is what makes the added noise meaningful.
 * Returns new arrays; the inputs are not changed. The factor is rounded down a hair so that the
 * float32 result never lands above the bound.
 */
export function clipToNorm(arrays: readonly Float32Array[], maxNorm: number): ClipResult {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new RangeError(`maxNorm must be a positive finite number, got ${maxNorm}`);
  const norm = l2Norm(arrays);
  if (!Number.isFinite(norm)) throw new RangeError("cannot clip a delta that contains NaN or ±Inf");
  const factor = norm > maxNorm ? (maxNorm / norm) * (1 - 1e-6) : 1;
  const out = arrays.map((a) => {
    const c = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) c[i] = a[i] * factor;
    return c;
  });
  return { arrays: out, norm, factor };
}
