import { describe, expect, it } from "vitest";
import { splitRewards } from "../../../src/core/rewards/index.js";
import { MalformedInputError } from "../../../src/core/errors.js";

const A = "0x" + "a".repeat(40);
const B = "0x" + "b".repeat(40);
const C = "0x" + "c".repeat(40);

describe("splitRewards", () => {
  it("splits in proportion to scores and spends exactly the total", () => {
    const shares = splitRewards(1000n, [
      { address: A, score: 1 },
      { address: B, score: 2 },
      { address: C, score: 7 },
    ]);
    expect(shares).toEqual([
      { address: A, amount: 100n },
      { address: B, amount: 200n },
      { address: C, amount: 700n },
    ]);
  });

  it("hands the remainder to the largest fractional parts, then lower addresses", () => {
    // 10 / 3 each: floor 3, remainder 1 goes to the lowest address (all fractions equal).
    const equal = splitRewards(10n, [
      { address: C, score: 1 },
      { address: A, score: 1 },
      { address: B, score: 1 },
    ]);
    expect(equal).toEqual([
      { address: A, amount: 4n },
      { address: B, amount: 3n },
      { address: C, amount: 3n },
    ]);
    // 100 · (1/6, 2/6, 3/6) = 16.67, 33.33, 50: one unit left, to A (fraction .67 is the largest).
    const uneven = splitRewards(100n, [
      { address: A, score: 1 },
      { address: B, score: 2 },
      { address: C, score: 3 },
    ]);
    expect(uneven.map((s) => s.amount)).toEqual([17n, 33n, 50n]);
  });

  it("is independent of input order and merges an address's scores case-insensitively", () => {
    const one = splitRewards(997n, [
      { address: A, score: 0.3 },
      { address: B.toUpperCase().replace("0X", "0x"), score: 0.2 },
      { address: B, score: 0.1 },
      { address: C, score: 0.4 },
    ]);
    const two = splitRewards(997n, [
      { address: C, score: 0.4 },
      { address: B, score: 0.3 },
      { address: A, score: 0.3 },
    ]);
    expect(one).toEqual(two);
    expect(one.reduce((acc, s) => acc + s.amount, 0n)).toBe(997n);
  });

  it("pays nothing for zero or negative scores, and nobody when no score is positive", () => {
    const shares = splitRewards(50n, [
      { address: A, score: 0 },
      { address: B, score: -5 },
      { address: C, score: 2 },
    ]);
    expect(shares).toEqual([{ address: C, amount: 50n }]);
    expect(splitRewards(50n, [{ address: A, score: 0 }])).toEqual([]);
    expect(splitRewards(50n, [])).toEqual([]);
    expect(splitRewards(0n, [{ address: A, score: 1 }])).toEqual([]);
  });

  it("keeps exact integer amounts for 18-decimal totals", () => {
    const total = 123_456_789n * 10n ** 18n + 7n;
    const shares = splitRewards(total, [
      { address: A, score: 1e-9 },
      { address: B, score: 3.5 },
      { address: C, score: 1e6 },
    ]);
    expect(shares.reduce((acc, s) => acc + s.amount, 0n)).toBe(total);
    expect(shares.find((s) => s.address === C)!.amount > shares.find((s) => s.address === B)!.amount).toBe(true);
  });

  it("rejects malformed addresses, scores and totals", () => {
    expect(() => splitRewards(1n, [{ address: "0x1234", score: 1 }])).toThrow(MalformedInputError);
    expect(() => splitRewards(1n, [{ address: A, score: Number.NaN }])).toThrow(MalformedInputError);
    expect(() => splitRewards(1n, [{ address: A, score: Infinity }])).toThrow(MalformedInputError);
    expect(() => splitRewards(1n, [{ address: A, score: "1" as unknown as number }])).toThrow(MalformedInputError);
    expect(() => splitRewards(-1n, [{ address: A, score: 1 }])).toThrow(MalformedInputError);
    expect(() => splitRewards(1 as unknown as bigint, [{ address: A, score: 1 }])).toThrow(MalformedInputError);
  });
});

describe("splitRewards exactness", () => {
  it("splits exactly by the scores' ratio, including very small and subnormal scores", () => {
    const shares = splitRewards(8n * 10n ** 19n, [
      { address: A, score: 1 },
      { address: B, score: 2 },
      { address: C, score: 5 },
    ]);
    expect(shares.map((s) => s.amount)).toEqual([10n ** 19n, 2n * 10n ** 19n, 5n * 10n ** 19n]);
    const tiny = splitRewards(2n, [
      { address: A, score: 5e-324 },
      { address: B, score: 1e-323 },
    ]);
    expect(tiny).toEqual([{ address: B, amount: 1n }, { address: A, amount: 1n }].sort((x, y) => (x.address < y.address ? -1 : 1)));
  });
});
