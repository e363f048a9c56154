import { describe, expect, it } from "vitest";
import { aggregateCenteredClip, createStrategy, type ClientUpdate } from "../../../src/core/aggregate/index.js";
import { randomVector, relativeError, rng } from "./helpers.js";

/**
 * Non-IID round: 8 honest clients share a direction c but each adds its own direction of the
 * same size (pairwise cosine ≈ 0.5), plus 2 attackers (20%) of the given kind.
 */
function nonIidRound(attack: "sign-flip" | "scale" | "noise", seed = 5, length = 2000) {
  const next = rng(seed);
  const common = randomVector(length, next);
  const honest: ClientUpdate[] = Array.from({ length: 8 }, (_, h) => {
    const own = randomVector(length, next);
    return { id: `h${h}`, weight: 100, delta: common.map((c, i) => c + own[i]) };
  });
  const honestMean = new Float32Array(length);
  for (const u of honest) for (let i = 0; i < length; i++) honestMean[i] += u.delta[i] / honest.length;
  const attackers: ClientUpdate[] = [0, 1].map((a) => {
    const base = honest[a].delta;
    const delta =
      attack === "sign-flip" ? base.map((x) => -x)
      : attack === "scale" ? base.map((x) => 10 * x)
      : randomVector(length, next).map((x) => 10 * x);
    return { id: `attacker-${a}`, weight: 100, delta };
  });
  return { updates: [...honest, ...attackers], honestMean, honest };
}

describe("centered clipping with bucketing", () => {
  for (const attack of ["sign-flip", "scale", "noise"] as const) {
    it(`stays near the honest mean under 20% ${attack} attackers on non-IID deltas, where FedAvg does not`, () => {
      const { updates, honestMean, honest } = nonIidRound(attack);
      const robust = createStrategy("centered-clip").aggregate(updates).delta;
      const fedavg = createStrategy("fedavg").aggregate(updates).delta;
      // An honest client's own distance from the honest mean (the heterogeneity) for scale.
      const spread = relativeError(honest[2].delta, honestMean);
      const robustError = relativeError(robust, honestMean);
      expect(robustError).toBeLessThan(0.3);
      expect(robustError).toBeLessThan(spread);
      // Measured (seed 5): centered-clip 0.22 / 0.20 / ≤ 0.25, FedAvg 0.42 / 2.1 / > 1 for sign-flip / scale / noise.
      expect(relativeError(fedavg, honestMean)).toBeGreaterThan(1.5 * robustError);
      expect(relativeError(fedavg, honestMean)).toBeGreaterThan(0.38);
    });
  }

  it("is deterministic for a seed, independent of arrival order, and uses the previous aggregate as centre", () => {
    const { updates } = nonIidRound("scale", 9, 300);
    const strategy = createStrategy("centered-clip", { seed: "7" });
    const a = strategy.aggregate(updates);
    const b = strategy.aggregate([...updates].reverse());
    expect(Array.from(a.delta)).toEqual(Array.from(b.delta));
    const acc = strategy.createAccumulator(300);
    for (const u of updates) acc.add(u);
    expect(Array.from(acc.finish().delta)).toEqual(Array.from(a.delta));
    expect(a.state).toMatchObject({ strategy: "centered-clip", step: 1 });
    // Next round: starts from state.m and permutes differently (step 1).
    const r2 = strategy.aggregate(updates, a.state);
    expect(r2.state?.step).toBe(2);
    const other = aggregateCenteredClip(updates, { iterations: 3, bucket: 2, seed: 8 });
    expect(other.buckets).not.toEqual(aggregateCenteredClip(updates, { iterations: 3, bucket: 2, seed: 9 }).buckets);
    expect(other.buckets.flat().sort((x, y) => x - y)).toEqual(updates.map((_, i) => i));
    expect(other.buckets.every((bucket) => bucket.length === 2)).toBe(true);
  });

  it("with a fixed τ moves the centre at most τ per iteration", () => {
    const { updates } = nonIidRound("scale", 3, 200);
    const tau = 0.01;
    const result = aggregateCenteredClip(updates, { tau, iterations: 2, bucket: 1, seed: 0 }, {
      strategy: "centered-clip",
      step: 1,
      m: new Float32Array(200),
    });
    expect(result.taus).toEqual([tau, tau]);
    expect(Math.hypot(...result.delta)).toBeLessThanOrEqual(2 * tau * (1 + 1e-6));
  });

  it("refuses bad parameters and foreign state", () => {
    expect(() => createStrategy("centered-clip", { bucket: "0" })).toThrow(expect.objectContaining({ code: "STRATEGY_BAD_PARAM" }));
    expect(() => createStrategy("centered-clip", { tau: "-1" })).toThrow(/out of range/);
    expect(() => createStrategy("centered-clip", { iterations: "1.5" })).toThrow(/whole number/);
    const strategy = createStrategy("centered-clip");
    expect(() => strategy.createAccumulator(3, { strategy: "fedavgm", step: 1, m: new Float32Array(3) })).toThrow(
      expect.objectContaining({ code: "AGGREGATE_BAD_STATE" }),
    );
    expect(createStrategy("centered-clip").params).toEqual({ iterations: 3, bucket: 1, seed: 0 });
  });
});
