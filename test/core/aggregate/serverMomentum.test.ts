import { describe, expect, it } from "vitest";
import { createStrategy, type ServerState } from "../../../src/core/aggregate/index.js";
import { update } from "./helpers.js";

describe("server momentum over a robust rule", () => {
  it("median then momentum, across two rounds (hand-computed)", () => {
    // Prepare: β = 0.5, η = 2; the median of each round is computed by hand below
    const strategy = createStrategy("median", { momentum: "0.5", "server-lr": "2" });

    // Execute: round 1 medians [2, 2]; round 2 medians [1, −1]
    const r1 = strategy.aggregate([update("a", 1, [1, 2]), update("b", 1, [2, 3]), update("c", 1, [100, -50])]);
    const r2 = strategy.aggregate([update("a", 1, [1, -1]), update("b", 1, [0, -2]), update("c", 1, [5, 5])], r1.state);

    // Assert: m₁ = [2, 2] → delta 2·m₁; m₂ = 0.5·[2, 2] + [1, −1] = [2, 0] → delta [4, 0]
    expect(Array.from(r1.delta)).toEqual([4, 4]);
    expect(r1.state).toMatchObject({ strategy: "median", step: 1 });
    expect(Array.from(r2.delta)).toEqual([4, 0]);
    expect(Array.from(r2.state!.m!)).toEqual([2, 0]);
    expect(strategy.params).toEqual({ momentum: 0.5, "server-lr": 2 });
  });

  it("a rejected poison update never enters the buffer (Multi-Krum, streaming accumulator)", () => {
    // Prepare: four honest updates near [1, 1] and one scaled attacker; f = 1, m = n − f
    const strategy = createStrategy("multi-krum", { f: "1", momentum: "0.9" });
    const honest = [update("h1", 1, [1, 1]), update("h2", 1, [1.1, 0.9]), update("h3", 1, [0.9, 1.1]), update("h4", 1, [1.05, 0.95])];

    // Execute
    const acc = strategy.createAccumulator(2);
    for (const u of [...honest, update("evil", 1, [1000, -1000])]) acc.add(u);
    const result = acc.finish();

    // Assert: the buffer is the mean of the selected honest updates, near [1, 1], the attacker is not selected
    expect(result.selected).not.toContain("evil");
    expect(result.state!.m![0]).toBeCloseTo(1, 1);
    expect(result.state!.m![1]).toBeCloseTo(1, 1);
    expect(Array.from(result.delta)).toEqual(Array.from(result.state!.m!));
    expect(result.state!.strategy).toBe("multi-krum");
  });

  it("without momentum or server-lr the rule is unchanged and keeps no state", () => {
    const plain = createStrategy("trimmed-mean").aggregate([update("a", 1, [1]), update("b", 1, [3])]);
    expect(plain.state).toBeUndefined();
    expect(createStrategy("krum").params).toEqual({});
  });

  it("rejects bad parameters and a foreign or mis-sized state", () => {
    expect(() => createStrategy("krum", { momentum: "1" })).toThrow(expect.objectContaining({ code: "STRATEGY_BAD_PARAM" }));
    expect(() => createStrategy("median", { "server-lr": "0" })).toThrow(/out of range/);
    expect(() => createStrategy("median", { momentum: "x" })).toThrow(/not a number/);
    const strategy = createStrategy("median", { momentum: "0.9" });
    const foreign: ServerState = { strategy: "fedavgm", step: 1, m: new Float32Array(2) };
    expect(() => strategy.createAccumulator(2, foreign)).toThrow(expect.objectContaining({ code: "AGGREGATE_BAD_STATE" }));
    const short: ServerState = { strategy: "median", step: 1, m: new Float32Array(1) };
    expect(() => strategy.aggregate([update("a", 1, [1, 2])], short)).toThrow(/expected 2/);
  });
});
