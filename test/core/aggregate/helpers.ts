import type { ClientUpdate } from "../../../src/core/aggregate/index.js";
import { seededRandom } from "../../../src/core/privacy/index.js";

/** Deterministic PRNG (mulberry32, shared with src/core/privacy) so failures reproduce. */
export const rng = seededRandom;

/** Uniform values in [-1, 1). */
export function randomVector(length: number, next: () => number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = next() * 2 - 1;
  return out;
}

export function update(id: string, weight: number, values: number[]): ClientUpdate {
  return { id, weight, delta: Float32Array.from(values) };
}

/** ‖a − b‖ / ‖b‖. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * Honest contributors around a common direction, plus a scaled (×100) and a sign-flipped attacker.
 * Returns the updates and the honest mean (the value a robust rule should stay near).
 */
export function adversarialRound(length = 1000, honest = 8, seed = 7): { updates: ClientUpdate[]; honestMean: Float32Array } {
  const next = rng(seed);
  const center = randomVector(length, next);
  const updates: ClientUpdate[] = [];
  const honestMean = new Float32Array(length);
  for (let h = 0; h < honest; h++) {
    const delta = new Float32Array(length);
    for (let i = 0; i < length; i++) delta[i] = center[i] + 0.1 * (next() * 2 - 1);
    for (let i = 0; i < length; i++) honestMean[i] += delta[i] / honest;
    updates.push({ id: `honest-${h}`, weight: 100, delta });
  }
  const scaled = new Float32Array(length);
  const flipped = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    scaled[i] = 100 * updates[0].delta[i];
    flipped[i] = -updates[1].delta[i];
  }
  updates.push({ id: "scaled", weight: 100, delta: scaled });
  updates.push({ id: "flipped", weight: 100, delta: flipped });
  return { updates, honestMean };
}
