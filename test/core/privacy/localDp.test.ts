import { describe, expect, it } from "vitest";
import {
  coarsenSampleCount,
  computeEpsilon,
  epsilonForMu,
  localDpEpsilon,
  normalCdf,
  saltedMetricsHash,
} from "../../../src/core/privacy/index.js";

// ---- Independent reference: the analytic Gaussian mechanism (Balle & Wang 2018, Theorem 8) ----
// Written here on purpose (no dat code): Φ by Simpson integration of the normal density.

function referencePhi(x: number): number {
  if (x > 0) return 1 - referencePhi(-x);
  const from = x - 40;
  const steps = 40000;
  const h = (x - from) / steps;
  const pdf = (t: number) => Math.exp(-0.5 * t * t) / Math.sqrt(2 * Math.PI);
  let sum = pdf(from) + pdf(x);
  for (let k = 1; k < steps; k++) sum += (k % 2 === 1 ? 4 : 2) * pdf(from + k * h);
  return (sum * h) / 3;
}

/** δ(ε) = Φ(Δ/(2σ) − εσ/Δ) − e^ε Φ(−Δ/(2σ) − εσ/Δ). */
function referenceDelta(epsilon: number, sensitivity: number, sigma: number): number {
  return (
    referencePhi(sensitivity / (2 * sigma) - (epsilon * sigma) / sensitivity) -
    Math.exp(epsilon) * referencePhi(-sensitivity / (2 * sigma) - (epsilon * sigma) / sensitivity)
  );
}

/** Exact ε for the Gaussian mechanism by bisection on the decreasing δ(ε). */
function referenceEpsilon(sensitivity: number, sigma: number, delta: number): number {
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (referenceDelta(mid, sensitivity, sigma) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

describe("local DP accountant (replace-one, sensitivity 2C)", () => {
  it("reports ε ≥ the exact value for σ = 1, one round, δ = 1e-5", () => {
    // Clip C = 1, noise stddev σC = 1; replace-one moves a clipped delta by up to 2C.
    const exact = referenceEpsilon(2, 1, 1e-5);
    // Known numbers: exact ε ≈ 10.0 (issue 13); dat used to report 4.75 (RDP, sensitivity C).
    expect(exact).toBeGreaterThan(9.9);
    expect(exact).toBeLessThan(10.1);
    const reported = localDpEpsilon({ noiseMultiplier: 1, rounds: 1, delta: 1e-5 });
    expect(reported.relation).toBe("replace-one");
    expect(reported.epsilon).toBeGreaterThanOrEqual(exact);
    expect(reported.epsilon).toBeLessThan(exact * 1.001); // and tight: the exact curve, not a loose bound
    // The old report was below the truth.
    expect(computeEpsilon({ sampleRate: 1, noiseMultiplier: 1, steps: 1 }, 1e-5).epsilon).toBeCloseTo(4.75, 2);
  });

  it("agrees with the reference for other σ, relations and composed rounds", () => {
    // Add/remove-one: sensitivity C.
    const addRemove = localDpEpsilon({ noiseMultiplier: 1, delta: 1e-5, relation: "add-remove-one" }).epsilon;
    expect(addRemove).toBeGreaterThanOrEqual(referenceEpsilon(1, 1, 1e-5));
    expect(addRemove).toBeLessThan(referenceEpsilon(1, 1, 1e-5) * 1.001);
    // T rounds of σ compose to one Gaussian mechanism with σ/√T (4 rounds of σ = 2 ≡ one of σ = 1).
    const four = localDpEpsilon({ noiseMultiplier: 2, rounds: 4, delta: 1e-5 }).epsilon;
    expect(four).toBeGreaterThanOrEqual(referenceEpsilon(2, 1, 1e-5));
    expect(four).toBeLessThan(referenceEpsilon(2, 1, 1e-5) * 1.001);
    const mixed = localDpEpsilon({ noiseMultiplier: [2, 2, 2, 2], delta: 1e-5 });
    expect(mixed.epsilon).toBeCloseTo(four, 9);
    expect(localDpEpsilon({ noiseMultiplier: 1, rounds: 0, delta: 1e-5 }).epsilon).toBe(0);
    // Balle & Wang 2018: the analytic Gaussian needs σ ≈ 3.73 for ε = 1, δ = 1e-5, Δ = 1
    // (the classical √(2 ln(1.25/δ))/ε bound asks 4.84).
    expect(epsilonForMu(1 / 3.73, 1e-5)).toBeCloseTo(1, 1);
    expect(referenceEpsilon(1, 3.73, 1e-5)).toBeCloseTo(1, 1);
  });

  it("computes Φ accurately in the tails", () => {
    for (const x of [-8, -6, -4, -2.5, -1, 0, 0.5, 3]) {
      const ref = referencePhi(x);
      expect(Math.abs(normalCdf(x) - ref) / ref).toBeLessThan(1e-8);
    }
  });

  it("refuses bad parameters", () => {
    expect(() => localDpEpsilon({ noiseMultiplier: 0, delta: 1e-5 })).toThrow(RangeError);
    expect(() => localDpEpsilon({ noiseMultiplier: 1, rounds: 1.5, delta: 1e-5 })).toThrow(RangeError);
    expect(() => localDpEpsilon({ noiseMultiplier: 1, delta: 0 })).toThrow(RangeError);
    expect(() => localDpEpsilon({ noiseMultiplier: 1, delta: 1e-5, relation: "swap" as never })).toThrow(RangeError);
  });
});

describe("coarsenSampleCount", () => {
  it("rounds down to a power of two with DP on, keeps the count without", () => {
    expect([1, 2, 3, 1000, 1024, 1025].map((n) => coarsenSampleCount(n, { dp: true }))).toEqual([1, 2, 2, 512, 1024, 1024]);
    expect(coarsenSampleCount(1000, { dp: false })).toBe(1000);
    for (const bad of [0, -3, 1.5, Number.NaN]) expect(() => coarsenSampleCount(bad, { dp: true })).toThrow(RangeError);
  });
});

describe("saltedMetricsHash", () => {
  const salt = new Uint8Array(16).fill(7);
  it("commits to the metrics whatever the key order, and depends on the salt", () => {
    const a = saltedMetricsHash({ loss: 0.25, accuracy: 0.9, extra: { b: 1, a: [1, "x", null, true] } }, salt);
    const b = saltedMetricsHash({ extra: { a: [1, "x", null, true], b: 1 }, accuracy: 0.9, loss: 0.25 }, salt);
    expect(a).toBe(b);
    expect(a).toMatch(/^0x[0-9a-f]{64}$/);
    expect(saltedMetricsHash({ loss: 0.25, accuracy: 0.9, extra: { b: 1, a: [1, "x", null, true] } }, new Uint8Array(16).fill(8))).not.toBe(a);
    expect(saltedMetricsHash({ loss: 0.26, accuracy: 0.9, extra: { b: 1, a: [1, "x", null, true] } }, salt)).not.toBe(a);
  });
  it("refuses a short salt and non-finite numbers", () => {
    expect(() => saltedMetricsHash({ loss: 1 }, new Uint8Array(8))).toThrow(RangeError);
    expect(() => saltedMetricsHash({ loss: Number.NaN }, salt)).toThrow(RangeError);
  });
});
