import { describe, expect, it } from "vitest";
import { applyFedAdam, applyFedAvgM, createStrategy, type ServerState } from "../../../src/core/aggregate/index.js";
import { update } from "./helpers.js";

describe("FedAvgM", () => {
  it("keeps server momentum across rounds (hand-computed)", () => {
    // Prepare: β = 0.5, η = 2
    const strategy = createStrategy("fedavgm", { "server-lr": "2", momentum: "0.5" });

    // Execute: round 1 mean (weights 1, 1, 2 — within the 2 × median cap) [2.5, 4, −0.5]; round 2 mean [1, 1, 1]
    const r1 = strategy.aggregate([update("a", 1, [1, 2, 3]), update("b", 1, [3, 2, 1]), update("c", 2, [3, 6, -3])]);
    const r2 = strategy.aggregate([update("a", 1, [1, 1, 1])], r1.state);

    // Assert: m₁ = Δ̄₁, delta₁ = 2·m₁; m₂ = 0.5·m₁ + [1,1,1] = [2.25, 3, 0.75], delta₂ = 2·m₂
    expect(Array.from(r1.delta)).toEqual([5, 8, -1]);
    expect(Array.from(r1.state!.m!)).toEqual([2.5, 4, -0.5]);
    expect(r1.state!.step).toBe(1);
    expect(Array.from(r2.delta)).toEqual([4.5, 6, 1.5]);
    expect(r2.state!.step).toBe(2);
    // Pure: the previous state is not modified.
    expect(Array.from(r1.state!.m!)).toEqual([2.5, 4, -0.5]);
  });

  it("defaults to η = 0.1, β = 0.9", () => {
    expect(createStrategy("fedavgm").params).toEqual({ "server-lr": 0.1, momentum: 0.9 });
  });

  it("rejects a state from another strategy or of another length", () => {
    const other: ServerState = { strategy: "fedadam", step: 1, m: new Float32Array(2), v: new Float32Array(2) };
    expect(() => applyFedAvgM(new Float32Array(2), other, { serverLr: 1, momentum: 0.9 })).toThrow(/fedadam/);
    const short: ServerState = { strategy: "fedavgm", step: 1, m: new Float32Array(1) };
    expect(() => applyFedAvgM(new Float32Array(2), short, { serverLr: 1, momentum: 0.9 })).toThrow(
      expect.objectContaining({ code: "AGGREGATE_BAD_STATE" }),
    );
    const strategy = createStrategy("fedavgm");
    expect(() => strategy.createAccumulator(2, short)).toThrow(/expected 2/);
  });
});

describe("FedAdam", () => {
  it("follows Reddi et al. Algorithm 2 (hand-computed)", () => {
    // Prepare: η = 0.1, β₁ = 0.9, β₂ = 0.99, τ = 0.001
    const strategy = createStrategy("fedadam", { "server-lr": "0.1", beta1: "0.9", beta2: "0.99", tau: "0.001" });

    // Execute
    const r1 = strategy.aggregate([update("a", 1, [2, -1])]);
    const r2 = strategy.aggregate([update("a", 1, [0, 0])], r1.state);

    // Assert: m = [0.2, −0.1], v = [0.04, 0.01]; delta = 0.1·m/(√v + τ)
    expect(r1.state!.m![0]).toBeCloseTo(0.2, 6);
    expect(r1.state!.v![1]).toBeCloseTo(0.01, 6);
    expect(r1.delta[0]).toBeCloseTo((0.1 * 0.2) / (0.2 + 0.001), 6);
    expect(r1.delta[1]).toBeCloseTo((0.1 * -0.1) / (0.1 + 0.001), 6);
    // Round 2 with a zero mean: m = 0.9·m, v = 0.99·v
    expect(r2.delta[0]).toBeCloseTo((0.1 * 0.18) / (Math.sqrt(0.0396) + 0.001), 6);
    expect(r2.delta[1]).toBeCloseTo((0.1 * -0.09) / (Math.sqrt(0.0099) + 0.001), 6);
    expect(r2.state!.step).toBe(2);
  });

  it("streams: the accumulator equals aggregate()", () => {
    const strategy = createStrategy("fedadam");
    const updates = [update("a", 1, [1, 2]), update("b", 2, [-1, 0.5])];
    const first = strategy.aggregate(updates);
    const acc = strategy.createAccumulator(2, first.state);
    for (const u of updates) acc.add(u);
    expect(acc.finish()).toEqual(strategy.aggregate(updates, first.state));
  });

  it("requires both moments in its state", () => {
    const state: ServerState = { strategy: "fedadam", step: 1, m: new Float32Array(2) };
    expect(() => applyFedAdam(new Float32Array(2), state, { serverLr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 })).toThrow(
      /moment v is missing/,
    );
  });
});

describe("FedProx (server side)", () => {
  it("aggregates exactly like FedAvg and records μ for the clients", () => {
    const updates = [update("a", 1, [1, 2, 3]), update("b", 3, [3, 6, -3])];
    const prox = createStrategy("fedprox", { mu: "0.1" });
    expect(prox.params).toEqual({ mu: 0.1 });
    expect(prox.streaming).toBe(true);
    expect(prox.aggregate(updates).delta).toEqual(createStrategy("fedavg").aggregate(updates).delta);
  });
});
