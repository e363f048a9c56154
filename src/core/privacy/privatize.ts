import { clipToNorm } from "./clip.js";
import { addGaussianNoise, secureRandom, type UniformRandom } from "./noise.js";

export interface PrivatizeOptions {
  /** L2 bound of the job (DP-FedAvg clip norm). */
  clipNorm: number;
  /** Noise stddev / clip norm; 0 clips without noise. */
  noiseMultiplier: number;
  random?: UniformRandom;
}

export interface PrivatizeResult {
  arrays: Float32Array[];
  /** Norm before clipping. */
  norm: number;
  clipped: boolean;
}

/**
 * Clips a delta to the job's norm bound, then adds N(0, (noiseMultiplier·clipNorm)²) noise to
 * every element (local DP-FedAvg). Pure: returns new arrays.
 */
export function privatizeDelta(arrays: readonly Float32Array[], options: PrivatizeOptions): PrivatizeResult {
  const clip = clipToNorm(arrays, options.clipNorm);
  const out =
    options.noiseMultiplier > 0 ? addGaussianNoise(clip.arrays, options.noiseMultiplier * options.clipNorm, options.random ?? secureRandom()) : clip.arrays;
  return { arrays: out, norm: clip.norm, clipped: clip.factor < 1 };
}
