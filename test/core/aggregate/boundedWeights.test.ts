import { describe, expect, it } from "vitest";
import { boundedWeights, createStrategy, type ClientUpdate } from "../../../src/core/aggregate/index.js";
import { MalformedInputError, UserError } from "../../../src/core/errors.js";
import { randomVector, rng } from "./helpers.js";

function distance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function mean(vectors: Float32Array[]): Float32Array {
  const out = new Float32Array(vectors[0].length);
  for (const v of vectors) for (let i = 0; i < v.length; i++) out[i] += v[i] / vectors.length;
  return out;
}

describe("boundedWeights", () => {
  it("caps every claim at min(maxSamples, 2 × lower median)", () => {
    // Sorted: 50, 100, 120, 1e9 → lower median 100, cap 200.
    expect(boundedWeights([100, 1e9, 50, 120])).toEqual({ weights: [100, 200, 50, 120], cap: 200, capped: [1] });
    expect(boundedWeights([100, 1e9, 50, 120], { maxSamples: 80 })).toEqual({ weights: [80, 80, 50, 80], cap: 80, capped: [0, 1, 3] });
    expect(boundedWeights([10, 30], { multiple: 1 }).weights).toEqual([10, 10]);
    expect(boundedWeights([7]).weights).toEqual([7]);
  });

  it("refuses malformed claims and options, naming them", () => {
    for (const bad of [0, -1, Number.NaN, Infinity, "5" as unknown as number]) {
      const error = (() => {
        try {
          boundedWeights([10, bad]);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(MalformedInputError);
      expect((error as MalformedInputError).code).toBe("AGGREGATE_BAD_CLAIM");
      expect((error as MalformedInputError).data).toEqual({ index: 1 });
    }
    expect(() => boundedWeights([])).toThrow(UserError);
    expect(() => boundedWeights([1], { maxSamples: 0 })).toThrow(/maxSamples/);
    expect(() => boundedWeights([1], { multiple: 0.5 })).toThrow(/multiple/);
  });
});

describe("bounded weights inside the weighted strategies", () => {
  const length = 400;
  const next = rng(11);
  const center = randomVector(length, next);
  const honest: ClientUpdate[] = Array.from({ length: 9 }, (_, h) => {
    const noise = randomVector(length, next);
    return { id: `h${h}`, weight: 80 + 10 * h, delta: center.map((c, i) => c + 0.5 * noise[i]) };
  });
  // A "reset" delta: far from every honest one, claiming 10⁹ samples.
  const attacker: ClientUpdate = { id: "liar", weight: 1e9, delta: center.map((c) => -20 * c) };
  const honestMean = mean(honest.map((u) => u.delta));
  const worstHonest = Math.max(...honest.map((u) => distance(u.delta, honestMean)));

  for (const name of ["fedavg", "fedprox", "fedavgm", "fedadam"] as const) {
    it(`${name}: a 10⁹ claim weighs no more than the cap (2 × median)`, () => {
      const strategy = createStrategy(name, name === "fedavgm" ? { "server-lr": 1, momentum: 0 } : {});
      const clean = strategy.aggregate(honest).delta;
      const attacked = strategy.aggregate([...honest, attacker]).delta;
      const cap = 2 * 120; // lower median of the 10 claims is 120
      const totalWeight = honest.reduce((s, u) => s + u.weight, 0) + cap;
      if (name === "fedadam") {
        // The adaptive step normalises per coordinate; the bound is that the attacked step stays finite and of the clean step's size.
        expect(distance(attacked, clean)).toBeLessThan(2 * Math.hypot(...clean));
        return;
      }
      // The attacker's pull is its capped weight share times its distance from the honest mean.
      const bound = (cap / totalWeight) * distance(attacker.delta, honestMean) * 1.01;
      expect(distance(attacked, clean)).toBeLessThanOrEqual(bound);
      // And it moves the aggregate no more than replacing an honest contributor with the liar's
      // delta at an honest cap-sized weight would: far less than an unbounded 10⁹ weight (≈ the liar's delta).
      expect(distance(attacked, honestMean)).toBeLessThan(0.25 * distance(attacker.delta, honestMean));
      expect(distance(clean, honestMean)).toBeLessThan(worstHonest);
    });
  }

  it("a streaming accumulator bounds weights from the round's claims", () => {
    const strategy = createStrategy("fedavg");
    const all = [...honest, attacker];
    const acc = strategy.createAccumulator(length, undefined, { claims: all.map((u) => u.weight) });
    for (const u of all) acc.add(u);
    expect(Array.from(acc.finish().delta)).toEqual(Array.from(strategy.aggregate(all).delta));
    const capped = strategy.createAccumulator(length, undefined, { maxSamples: 100 });
    for (const u of all) capped.add(u);
    const result = capped.finish().delta;
    // Weights min(claim, 100): 80, 90, then 100 for every other one, the liar included.
    const weights = all.map((u) => Math.min(u.weight, 100));
    const total = weights.reduce((a, b) => a + b, 0);
    for (const i of [0, 17, 399]) {
      const expected = all.reduce((s, u, j) => s + weights[j] * u.delta[i], 0) / total;
      expect(result[i]).toBeCloseTo(expected, 4);
    }
  });
});
