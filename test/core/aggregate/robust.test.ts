import { describe, expect, it } from "vitest";
import {
  aggregateKrum,
  aggregateMedian,
  aggregateTrimmedMean,
  createStrategy,
  resolveKrumF,
  duplicateGroups,
  pairwiseSquaredDistances,
  type ClientUpdate,
} from "../../../src/core/aggregate/index.js";
import { adversarialRound, randomVector, relativeError, rng, update } from "./helpers.js";

function sortedReference(updates: ClientUpdate[], i: number): number[] {
  return updates.map((u) => u.delta[i]).sort((a, b) => a - b);
}

describe("coordinate-wise median", () => {
  it("takes the middle value, or the mean of the two middle ones (hand-computed)", () => {
    const odd = [update("a", 1, [1, 5, 3]), update("b", 50, [2, 0, 9]), update("c", 1, [7, 4, -1])];
    expect(Array.from(aggregateMedian(odd))).toEqual([2, 4, 3]);
    const even = [...odd, update("d", 1, [0, 0, 0])];
    expect(Array.from(aggregateMedian(even))).toEqual([1.5, 2, 1.5]);
  });

  it("matches a sort-based reference across blocks and for large n", () => {
    const next = rng(3);
    for (const n of [1, 2, 17, 40]) {
      const updates = Array.from({ length: n }, (_, j) => ({ id: `c${j}`, weight: 1, delta: randomVector(2500, next) }));
      // Ties exercise the partition's equal-element handling.
      updates[0].delta.fill(0.25, 0, 600);
      if (n > 1) updates[1].delta.fill(0.25, 0, 600);
      const result = aggregateMedian(updates);
      for (let i = 0; i < 2500; i += 13) {
        const s = sortedReference(updates, i);
        const expected = n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
        expect(result[i]).toBeCloseTo(expected, 6);
      }
    }
  });
});

describe("trimmed mean", () => {
  it("drops ⌊β·n⌋ values on each side (hand-computed)", () => {
    const updates = [1, 2, 3, 4, 100].map((x, i) => update(`c${i}`, 1, [x, -x]));
    expect(Array.from(aggregateTrimmedMean(updates, { beta: 0.2 }))).toEqual([3, -3]);
    expect(Array.from(aggregateTrimmedMean(updates, { beta: 0 }))).toEqual([22, -22]);
  });

  it("rejects a beta outside [0, 0.5) when called directly", () => {
    const updates = [update("a", 1, [1]), update("b", 1, [2])];
    for (const beta of [-0.1, 0.5, Number.NaN]) {
      expect(() => aggregateTrimmedMean(updates, { beta })).toThrow(expect.objectContaining({ code: "STRATEGY_BAD_PARAM" }));
    }
  });

  it("matches a sort-based reference across blocks", () => {
    const next = rng(4);
    const n = 23;
    const updates = Array.from({ length: n }, (_, j) => ({ id: `c${j}`, weight: 1, delta: randomVector(2100, next) }));
    const result = aggregateTrimmedMean(updates, { beta: 0.25 });
    const k = Math.floor(0.25 * n);
    for (let i = 0; i < 2100; i += 11) {
      const s = sortedReference(updates, i).slice(k, n - k);
      expect(result[i]).toBeCloseTo(s.reduce((a, b) => a + b, 0) / s.length, 5);
    }
  });
});

describe("Krum and Multi-Krum", () => {
  it("scores by the n − f − 2 nearest neighbours (hand-computed)", () => {
    // Prepare: 1-D points 10, 11, 12, 13, 110 with f = 1 → 2 neighbours each (no zero delta: it is never a candidate).
    const updates = [10, 11, 12, 13, 110].map((x, i) => update(`c${i}`, 1, [x]));

    // Execute
    const krum = aggregateKrum(updates, { f: 1, m: 1 });
    const multi = aggregateKrum(updates, { f: 1, m: 3 });

    // Assert: scores 10→1+4, 11→1+1, 12→1+1, 13→1+4, 110→97²+98²
    expect(Array.from(krum.scores)).toEqual([5, 2, 2, 5, 97 ** 2 + 98 ** 2]);
    expect(krum.selectedIndices).toEqual([1]);
    expect(Array.from(krum.delta)).toEqual([11]);
    expect(multi.selectedIndices).toEqual([1, 2, 0]);
    expect(Array.from(multi.delta)).toEqual([11]);
  });

  it("computes pairwise distances like the naive formula, across blocks", () => {
    const next = rng(5);
    const vectors = Array.from({ length: 6 }, () => randomVector(5001, next));
    const dist = pairwiseSquaredDistances(vectors);
    for (let a = 0; a < 6; a++) {
      expect(dist[a * 6 + a]).toBe(0);
      for (let b = 0; b < 6; b++) {
        let s = 0;
        for (let i = 0; i < 5001; i++) s += (vectors[a][i] - vectors[b][i]) ** 2;
        expect(dist[a * 6 + b]).toBeCloseTo(s, 6);
      }
    }
  });

  it("needs n ≥ 2f + 3 and m ≤ n − f", () => {
    const four = [0, 1, 2, 3].map((x, i) => update(`c${i}`, 1, [x]));
    expect(() => aggregateKrum(four, { f: 1 })).toThrow(expect.objectContaining({ code: "AGGREGATE_TOO_FEW" }));
    const five = [...four, update("c4", 1, [4])];
    expect(() => aggregateKrum(five, { f: 1, m: 5 })).toThrow(expect.objectContaining({ code: "AGGREGATE_TOO_FEW" }));
    expect(createStrategy("krum", { f: "2" }).minUpdates()).toBe(7);
    expect(() => aggregateKrum(five, { f: -1 })).toThrow(expect.objectContaining({ code: "STRATEGY_BAD_PARAM" }));
    expect(() => aggregateKrum(five, { f: 1, m: 0 })).toThrow(expect.objectContaining({ code: "STRATEGY_BAD_PARAM" }));
    // Default f adapts to n: three updates → f = 0.
    expect(aggregateKrum(four.slice(0, 3)).f).toBe(0);
  });

  it("collapses identical attacker updates to one candidate so they cannot vouch for each other", () => {
    // Prepare: 7 honest deltas μ + noise (non-IID: ‖noise‖² ≈ 1 per client, pairwise ≈ 2) and 3
    // identical −1.2μ deltas (‖−1.2μ − honest‖² ≈ 4.84·0.25 + 1 ≈ 2.2). Scored naively with f = 3
    // (5 neighbours), each copy's score is 0 + 0 + 3·2.2 ≈ 6.6 against ≈ 10 for an honest delta,
    // so a copy wins; counted once, the copy scores ≈ 4·2.2 against ≈ 4·2 for honest ones.
    const length = 4000;
    const next = rng(11);
    const mu = Float32Array.from({ length }, () => 0.5 / Math.sqrt(length) * (next() < 0.5 ? -1 : 1));
    const noiseScale = Math.sqrt(3 / length); // randomVector is uniform in [-1, 1): variance 1/3.
    const honest = Array.from({ length: 7 }, (_, c) => {
      const noise = randomVector(length, next);
      return { id: `h${c}`, weight: 1, delta: Float32Array.from(mu, (m, i) => m + noise[i] * noiseScale) };
    });
    const evil = Float32Array.from(mu, (m) => -1.2 * m);
    const attackers = [0, 1, 2].map((k) => ({ id: `a${k}`, weight: 1, delta: Float32Array.from(evil) }));
    const updates = [...attackers, ...honest];

    // Execute
    const result = aggregateKrum(updates, { f: 3, m: 1 });

    // Assert: an honest update is chosen, the copies share one score, and the 2 dropped copies count
    // against f = 3 (one Byzantine candidate may remain among the 8 distinct).
    expect(result.selectedIndices[0]).toBeGreaterThanOrEqual(3);
    expect(result.scores[1]).toBe(result.scores[0]);
    expect(result.scores[2]).toBe(result.scores[0]);
    expect(result.f).toBe(1);
    // The naive score (every copy a neighbour) would have preferred the attackers.
    const dist = pairwiseSquaredDistances(updates.map((u) => u.delta));
    const naive = (a: number): number =>
      Array.from({ length: 10 }, (_, b) => b).filter((b) => b !== a).map((b) => dist[a * 10 + b]).sort((x, y) => x - y).slice(0, 5).reduce((s, x) => s + x, 0);
    expect(naive(0)).toBeLessThan(Math.min(...[3, 4, 5, 6, 7, 8, 9].map(naive)));
  });

  it("never selects an all-zero majority of free riders over trained updates", () => {
    // Prepare: 4 zero deltas (free riders) and 5 trained ones spread around a common direction.
    const next = rng(13);
    const trained = Array.from({ length: 5 }, (_, c) => ({ id: `t${c}`, weight: 1, delta: Float32Array.from(randomVector(500, next), (x) => 1 + x) }));
    const zeros = [0, 1, 2, 3].map((k) => ({ id: `z${k}`, weight: 1, delta: new Float32Array(500) }));

    // Execute
    const result = createStrategy("krum", { f: "3" }).aggregate([...zeros, ...trained]);

    // Assert: one zero vote at most, and a trained delta wins; the result is not frozen at zero.
    expect(result.selected?.[0]).toMatch(/^t/);
    expect(result.delta.some((x) => x !== 0)).toBe(true);
  });

  it("never selects a single zero delta that sits closer to everyone than non-IID honest deltas do", () => {
    // Prepare: 6 near-orthogonal honest deltas (pairwise ‖a − b‖² = 2) and one zero (‖0 − a‖² = 1).
    const honest = Array.from({ length: 6 }, (_, c) => {
      const v = new Float32Array(6);
      v[c] = 1;
      return { id: `h${c}`, weight: 1, delta: v };
    });
    const updates = [{ id: "zero", weight: 1, delta: new Float32Array(6) }, ...honest];

    // Execute
    const result = aggregateKrum(updates, { f: 2, m: 1 });

    // Assert
    expect(result.selectedIndices[0]).not.toBe(0);
    expect(result.scores[0]).toBe(Infinity);
    // All zero: the answer is zero, not an error.
    expect(Array.from(aggregateKrum([0, 1, 2].map((k) => ({ id: `z${k}`, weight: 1, delta: new Float32Array(3) }))).delta)).toEqual([0, 0, 0]);
  });

  it("counts dropped zeros and copies against f, so Multi-Krum keeps every distinct honest update", () => {
    // Prepare: 8 honest deltas around a common direction, and 2 attackers that send zeros (or copy h0).
    const next = rng(19);
    const honest = Array.from({ length: 8 }, (_, c) => ({ id: `h${c}`, weight: 1, delta: Float32Array.from(randomVector(200, next), (x) => 1 + x) }));
    const zeros = [0, 1].map((k) => ({ id: `z${k}`, weight: 1, delta: new Float32Array(200) }));
    const copies = [0, 1].map((k) => ({ id: `c${k}`, weight: 1, delta: Float32Array.from(honest[0].delta) }));

    // Execute: f = 2, m defaults to n − f = 8.
    const underZero = aggregateKrum([...zeros, ...honest], { f: 2 });
    const underCopy = aggregateKrum([...copies, ...honest], { f: 2 });
    const honestOnly = aggregateKrum(honest, { f: 2 });

    // Assert: both dropped updates were the f Byzantine ones, so no honest update is discarded for
    // them: all 8 honest are averaged (not 6), the same mean as every honest update alone.
    const mean = Float32Array.from({ length: 200 }, (_, i) => honest.reduce((s, h) => s + h.delta[i], 0) / 8);
    for (const result of [underZero, underCopy]) {
      expect(result.f).toBe(0);
      // (A group of copies is represented by its first member: c0 stands for h0.)
      expect(result.selectedIndices).toHaveLength(8);
      result.delta.forEach((x, i) => expect(x).toBeCloseTo(mean[i], 5));
    }
    // With no update dropped, f = 2 still discards the 2 least central of 8.
    expect(honestOnly.selectedIndices).toHaveLength(6);
  });

  it("resolves f from fraction per round: ⌊fraction · n⌋ capped at ⌊(n − 3)/2⌋, a given f first", () => {
    expect([3, 5, 7, 10, 15, 20].map((n) => resolveKrumF(n, undefined, 0.2))).toEqual([0, 1, 1, 2, 3, 4]);
    expect(resolveKrumF(10, 3, 0.2)).toBe(3);
    // So a robust job of 3 contributors aggregates (f = 0: their mean) where a fixed f = 2 needs 7.
    expect(createStrategy("multi-krum", { fraction: "0.2" }).minUpdates()).toBe(3);
    expect(createStrategy("multi-krum", { f: "2" }).minUpdates()).toBe(7);
    const next = rng(23);
    const three = Array.from({ length: 3 }, (_, c) => ({ id: `h${c}`, weight: 1, delta: randomVector(50, next) }));
    const mean = Float32Array.from({ length: 50 }, (_, i) => (three[0].delta[i] + three[1].delta[i] + three[2].delta[i]) / 3);
    createStrategy("multi-krum", { fraction: "0.2" }).aggregate(three).delta.forEach((x, i) => expect(x).toBeCloseTo(mean[i], 5));
    expect(aggregateKrum(Array.from({ length: 10 }, (_, c) => ({ id: `u${c}`, weight: 1, delta: randomVector(20, next) })), { fraction: 0.2 }).selectedIndices).toHaveLength(8);
    for (const bad of ["0.5", "-0.1", "x"]) {
      expect(() => createStrategy("multi-krum", { fraction: bad })).toThrow(expect.objectContaining({ code: "STRATEGY_BAD_PARAM" }));
    }
  });

  it("treats near-identical copies (float noise far below independent training) as duplicates", () => {
    const base = randomVector(300, rng(17));
    const near = Float32Array.from(base, (x) => x * (1 + 1e-7));
    const other = Float32Array.from(base, (x) => -x);
    const dist = pairwiseSquaredDistances([base, near, other]);
    expect(duplicateGroups([base, near, other], dist)).toEqual([0, 0, 2]);
  });

  it("reports the selected ids through the Strategy", () => {
    const updates = [10, 11, 12, 13, 110].map((x, i) => update(`c${i}`, 1, [x]));
    const result = createStrategy("multi-krum", { f: "1", m: "2" }).aggregate(updates);
    expect(result.selected).toEqual(["c1", "c2"]);
    expect(Array.from(result.delta)).toEqual([11.5]);
  });
});

describe("adversarial round: a ×100 scaled and a sign-flipped update among 8 honest ones", () => {
  const { updates, honestMean } = adversarialRound();
  const cases: [string, Record<string, string>][] = [
    ["median", {}],
    ["trimmed-mean", { beta: "0.2" }],
    ["krum", { f: "2" }],
    ["multi-krum", { f: "2" }],
  ];
  for (const [name, params] of cases) {
    it(`${name} stays near the honest mean`, () => {
      const strategy = createStrategy(name, params);
      const result = strategy.aggregate(updates);
      expect(relativeError(result.delta, honestMean)).toBeLessThan(0.25);
      if (result.selected && name.includes("krum")) {
        expect(result.selected).not.toContain("scaled");
        expect(result.selected).not.toContain("flipped");
      }
    });
  }

  it("FedAvg does not", () => {
    const result = createStrategy("fedavg").aggregate(updates);
    expect(relativeError(result.delta, honestMean)).toBeGreaterThan(5);
  });

  it("the buffered accumulators equal aggregate()", () => {
    for (const [name, params] of cases) {
      const strategy = createStrategy(name, params);
      expect(strategy.streaming).toBe(false);
      const acc = strategy.createAccumulator(honestMean.length);
      for (const u of updates) acc.add(u);
      expect(acc.count).toBe(updates.length);
      expect(acc.finish()).toEqual(strategy.aggregate(updates));
    }
  });

  it("the buffered accumulators reject bad and duplicate updates", () => {
    const acc = createStrategy("median").createAccumulator(3);
    expect(() => acc.add(update("x", 1, [1, 2]))).toThrow(/expected 3/);
    expect(() => acc.add(update("x", 1, [1, Number.NaN, 2]))).toThrow(/NaN/);
    acc.add(update("x", 1, [1, 2, 3]));
    expect(() => acc.add(update("x", 1, [1, 2, 3]))).toThrow(expect.objectContaining({ code: "AGGREGATE_DUPLICATE_ID" }));
    expect(Array.from(acc.finish().delta)).toEqual([1, 2, 3]);
  });
});
