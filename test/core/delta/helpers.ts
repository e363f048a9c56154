import type { DeltaTensor } from "../../../src/core/delta/index.js";
import { seededRandom } from "../../../src/core/privacy/index.js";

/** Deterministic PRNG (mulberry32, shared with src/core/privacy) so failures reproduce. */
export const rng = seededRandom;

/** Tensors shaped like a small dense model (two layers with biases). */
export function smallModelDelta(seed = 1, scale = 0.01): DeltaTensor[] {
  const next = rng(seed);
  const specs: [string, number[]][] = [
    ["dense_1/kernel", [16, 32]],
    ["dense_1/bias", [32]],
    ["dense_2/kernel", [32, 4]],
    ["dense_2/bias", [4]],
  ];
  return specs.map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (next() * 2 - 1) * scale;
    return { name, shape, data };
  });
}
