/** Small seeded random numbers (mulberry32), so data, splits and shuffles are reproducible. */
import { seededRandom } from "../core/privacy/noise.js";

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Standard normal. */
  normal(): number;
  /** Gamma(shape, 1), for Dirichlet draws. */
  gamma(shape: number): number;
}

/** A seeded generator; the same seed gives the same sequence on every machine. */
export function createRng(seed: number): Rng {
  const next = seededRandom((Math.floor(seed) ^ 0x9e3779b9) >>> 0);
  const normal = (): number => {
    const u = Math.max(next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
  const gamma = (shape: number): number => {
    // Marsaglia–Tsang; shape < 1 boosted with U^(1/shape).
    if (shape < 1) return gamma(shape + 1) * Math.pow(Math.max(next(), 1e-12), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = next();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  };
  return { next, int: (n) => Math.floor(next() * n), normal, gamma };
}

/** A seeded permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = out[i];
    out[i] = out[j];
    out[j] = tmp;
  }
  return out;
}

/** A stable hash of (seed, index) in [0, 1): decides train/validation membership while streaming. */
export function hashUnit(seed: number, index: number): number {
  let h = Math.imul((seed ^ 0x85ebca6b) >>> 0, 0xc2b2ae35) ^ Math.imul(index + 1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
