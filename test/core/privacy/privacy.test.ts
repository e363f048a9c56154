import { describe, expect, it } from "vitest";
import {
  addGaussianNoise,
  clipToNorm,
  computeEpsilon,
  l2Norm,
  privatizeDelta,
  RdpAccountant,
  rdpSampledGaussian,
  seededRandom,
} from "../../../src/core/privacy/index.js";

describe("clipToNorm", () => {
  it("scales a delta above the bound down to it and leaves one below untouched", () => {
    const big = [new Float32Array([3, 0]), new Float32Array([4])];

    const clipped = clipToNorm(big, 1);

    expect(clipped.norm).toBeCloseTo(5);
    expect(l2Norm(clipped.arrays)).toBeLessThanOrEqual(1);
    expect(l2Norm(clipped.arrays)).toBeGreaterThan(0.9999);
    expect(Array.from(big[0])).toEqual([3, 0]);
    const small = clipToNorm(big, 10);
    expect(small.factor).toBe(1);
    expect(Array.from(small.arrays[1])).toEqual([4]);
  });

  it("refuses a non-positive bound and non-finite deltas", () => {
    expect(() => clipToNorm([new Float32Array([1])], 0)).toThrow(RangeError);
    expect(() => clipToNorm([new Float32Array([NaN])], 1)).toThrow(RangeError);
  });
});

describe("addGaussianNoise", () => {
  it("is reproducible with a seed and has the requested standard deviation", () => {
    const zero = [new Float32Array(200_000)];

    const a = addGaussianNoise(zero, 0.5, seededRandom(42))[0];
    const b = addGaussianNoise(zero, 0.5, seededRandom(42))[0];

    expect(Array.from(a.subarray(0, 10))).toEqual(Array.from(b.subarray(0, 10)));
    let mean = 0;
    for (const x of a) mean += x;
    mean /= a.length;
    let variance = 0;
    for (const x of a) variance += (x - mean) ** 2;
    variance /= a.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.sqrt(variance)).toBeCloseTo(0.5, 2);
  });

  it("uses the secure generator by default (two calls differ)", () => {
    const zero = [new Float32Array(4)];
    expect(Array.from(addGaussianNoise(zero, 1)[0])).not.toEqual(Array.from(addGaussianNoise(zero, 1)[0]));
  });

  it("privatizeDelta clips then adds noise scaled to the clip norm", () => {
    const out = privatizeDelta([new Float32Array(10_000).fill(1)], { clipNorm: 1, noiseMultiplier: 0, random: seededRandom(1) });
    expect(out.clipped).toBe(true);
    expect(l2Norm(out.arrays)).toBeLessThanOrEqual(1);
    const noisy = privatizeDelta([new Float32Array(10_000)], { clipNorm: 2, noiseMultiplier: 0.5, random: seededRandom(1) });
    expect(l2Norm(noisy.arrays) / Math.sqrt(10_000)).toBeCloseTo(1, 1);
  });
});

describe("RDP accountant for the sampled Gaussian mechanism", () => {
  it("matches Opacus's documented example: q=0.01, σ=1.0, 300 steps, δ=1e-5 → ε≈2.39 at α=5", () => {
    // https://opacus.ai/api/compute_dp_sgd_privacy.html (alphas 2 5 10 20 100)
    const spent = computeEpsilon({ sampleRate: 0.01, noiseMultiplier: 1.0, steps: 300 }, 1e-5, [2, 5, 10, 20, 100]);

    expect(spent.epsilon).toBeCloseTo(2.39, 2);
    expect(spent.order).toBe(5);
  });

  it("without subsampling equals the Gaussian mechanism's closed form α/(2σ²)", () => {
    for (const alpha of [2, 7, 32]) expect(rdpSampledGaussian(1, 1.3, alpha)).toBeCloseTo(alpha / (2 * 1.3 ** 2), 12);
    expect(rdpSampledGaussian(0, 1, 4)).toBe(0);
  });

  it("at α=2 equals the exact closed form log(1 + q²(e^{1/σ²} − 1))", () => {
    const q = 0.05;
    const sigma = 0.8;
    expect(rdpSampledGaussian(q, sigma, 2)).toBeCloseTo(Math.log(1 + q * q * (Math.exp(1 / sigma ** 2) - 1)), 12);
  });

  it("grows with rounds and shrinks with more noise; the ledger composes rounds", () => {
    const e10 = computeEpsilon({ sampleRate: 0.1, noiseMultiplier: 1, steps: 10 }, 1e-5).epsilon;
    const e100 = computeEpsilon({ sampleRate: 0.1, noiseMultiplier: 1, steps: 100 }, 1e-5).epsilon;
    const quiet = computeEpsilon({ sampleRate: 0.1, noiseMultiplier: 2, steps: 100 }, 1e-5).epsilon;
    expect(e100).toBeGreaterThan(e10);
    expect(quiet).toBeLessThan(e100);

    const ledger = new RdpAccountant();
    for (let r = 0; r < 10; r++) ledger.step(0.1, 1, 10);
    expect(ledger.recorded).toBe(10);
    expect(ledger.spent(1e-5).epsilon).toBeCloseTo(e100, 10);
  });

  it("rejects invalid parameters", () => {
    expect(() => rdpSampledGaussian(1.5, 1, 2)).toThrow(RangeError);
    expect(() => rdpSampledGaussian(0.1, 0, 2)).toThrow(RangeError);
    expect(() => rdpSampledGaussian(0.1, 1, 1.5)).toThrow(RangeError);
    expect(() => computeEpsilon({ sampleRate: 0.1, noiseMultiplier: 1, steps: 1 }, 0)).toThrow(RangeError);
  });
});
