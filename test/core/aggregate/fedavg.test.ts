import { describe, expect, it } from "vitest";
import { MalformedInputError, UserError } from "../../../src/core/errors.js";
import { aggregateFedAvg, createFedAvgAccumulator, createStrategy } from "../../../src/core/aggregate/index.js";
import { randomVector, rng, update } from "./helpers.js";

describe("FedAvg", () => {
  it("weights by sample count (hand-computed)", () => {
    // Prepare: (1·[1,2,3] + 3·[3,6,−3]) / 4 = [10,20,−6]/4
    const updates = [update("a", 1, [1, 2, 3]), update("b", 3, [3, 6, -3])];

    // Execute
    const result = aggregateFedAvg(updates);

    // Assert
    expect(Array.from(result)).toEqual([2.5, 5, -1.5]);
  });

  it("streaming equals batch bit for bit, and float64 reference closely, while reusing one input buffer", () => {
    const next = rng(1);
    const length = 5003;
    const updates = Array.from({ length: 30 }, (_, i) => ({
      id: `c${i}`,
      weight: 1 + Math.floor(next() * 500),
      delta: randomVector(length, next),
    }));
    const acc = createFedAvgAccumulator(length);
    const reused = new Float32Array(length);
    for (const u of updates) {
      reused.set(u.delta);
      acc.add(reused, u.weight);
      reused.fill(123); // the accumulator must not have kept a reference
    }
    const streamed = acc.finish();
    const batch = aggregateFedAvg(updates);

    expect(acc.count).toBe(30);
    expect(streamed).toEqual(batch);
    const total = updates.reduce((s, u) => s + u.weight, 0);
    for (let i = 0; i < length; i += 97) {
      const reference = updates.reduce((s, u) => s + u.weight * u.delta[i], 0) / total;
      expect(streamed[i]).toBeCloseTo(reference, 5);
    }
  });

  it("through the Strategy accumulator gives the same result as aggregate()", () => {
    const updates = [update("a", 2, [1, 1]), update("b", 2, [3, -1])];
    const strategy = createStrategy("fedavg");
    const acc = strategy.createAccumulator(2);
    for (const u of updates) acc.add(u);
    const streamed = acc.finish();
    expect(strategy.streaming).toBe(true);
    expect(Array.from(streamed.delta)).toEqual([2, 0]);
    expect(streamed.selected).toEqual(["a", "b"]);
    expect(strategy.aggregate(updates)).toEqual(streamed);
  });

  it("rejects an invalid delta without touching the running sum", () => {
    const acc = createFedAvgAccumulator(2);
    expect(() => acc.add(Float32Array.from([1, Number.NaN]), 1)).toThrow(MalformedInputError);
    expect(() => acc.add(Float32Array.from([1, Number.POSITIVE_INFINITY]), 1)).toThrow(MalformedInputError);
    expect(() => acc.add(Float32Array.from([1, 2, 3]), 1)).toThrow(/expected 2/);
    expect(() => acc.add(Float32Array.from([1, 2]), 0)).toThrow(/weight/);
    acc.add(Float32Array.from([4, 6]), 2);
    expect(acc.count).toBe(1);
    expect(Array.from(acc.finish())).toEqual([4, 6]);
    expect(() => acc.finish()).toThrow(UserError);
    expect(() => acc.add(Float32Array.from([1, 1]), 1)).toThrow(/already finished/);
  });

  it("rejects malformed batches with typed, coded errors", () => {
    const cases: [unknown[], string][] = [
      [[], "AGGREGATE_TOO_FEW"],
      [[update("a", 1, [1, 2]), update("b", 1, [1])], "AGGREGATE_LENGTH_MISMATCH"],
      [[update("a", 1, [1, Number.NaN])], "AGGREGATE_BAD_UPDATE"],
      [[update("a", 1, [Number.NEGATIVE_INFINITY, 1])], "AGGREGATE_BAD_UPDATE"],
      [[update("a", -1, [1, 2])], "AGGREGATE_BAD_UPDATE"],
      [[update("a", Number.NaN, [1, 2])], "AGGREGATE_BAD_UPDATE"],
      [[update("a", 1, [])], "AGGREGATE_BAD_UPDATE"],
      [[{ id: "a", weight: 1, delta: [1, 2] }], "AGGREGATE_BAD_UPDATE"],
      [[update("", 1, [1, 2])], "AGGREGATE_BAD_UPDATE"],
      [[update("a", 1, [1, 2]), update("a", 1, [1, 2])], "AGGREGATE_DUPLICATE_ID"],
    ];
    for (const [updates, code] of cases) {
      let caught: unknown;
      try {
        aggregateFedAvg(updates as never);
      } catch (error) {
        caught = error;
      }
      expect(caught, code).toMatchObject({ code });
    }
  });

  it("refuses a mean that overflowed float32 from finite inputs", () => {
    const updates = [update("a", 1e30, [1e10, 0]), update("b", 1, [0, 0])];
    expect(() => aggregateFedAvg(updates)).toThrow(expect.objectContaining({ code: "AGGREGATE_OVERFLOW" }));
    const acc = createStrategy("fedadam").createAccumulator(2);
    for (const u of updates) acc.add(u);
    expect(() => acc.finish()).toThrow(expect.objectContaining({ code: "AGGREGATE_OVERFLOW" }));
  });

  it("rejects a bad accumulator length", () => {
    expect(() => createFedAvgAccumulator(0)).toThrow(/positive integer/);
    expect(() => createFedAvgAccumulator(1.5)).toThrow(/positive integer/);
  });

  it("is dominated by a scaled attacker (why the robust rules exist)", async () => {
    const { adversarialRound, relativeError } = await import("./helpers.js");
    const { updates, honestMean } = adversarialRound();
    expect(relativeError(aggregateFedAvg(updates), honestMean)).toBeGreaterThan(5);
  });
});
