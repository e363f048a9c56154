import { describe, expect, it } from "vitest";
import { UserError } from "../../src/core/errors.js";
import {
  applyPreprocess,
  computeStats,
  createStatsAccumulator,
  parsePreprocess,
  validatePreprocessSpec,
  type PreprocessSpec,
} from "../../src/core/preprocess.js";

function errorOf(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error("expected an error");
}

describe("parsePreprocess", () => {
  it("parses the four forms", () => {
    expect(parsePreprocess("none")).toEqual({ kind: "none" });
    expect(parsePreprocess(" zscore ")).toEqual({ kind: "zscore" });
    expect(parsePreprocess("minmax")).toEqual({ kind: "minmax" });
    expect(parsePreprocess("scale:255")).toEqual({ kind: "scale", factor: 255 });
    expect(parsePreprocess("scale:1.6e1")).toEqual({ kind: "scale", factor: 16 });
  });
  it("refuses malformed values, naming the field", () => {
    for (const bad of ["", "z-score", "scale:", "scale:0", "scale:-2", "scale:abc", "scale:Infinity", "ZSCORE"]) {
      const e = errorOf(() => parsePreprocess(bad, "--normalize"));
      expect(e.code).toBe("PREPROCESS_BAD_SPEC");
      expect(e.message).toContain("--normalize");
    }
  });
});

describe("computeStats", () => {
  it("streams mean/std (population), min and max per feature", () => {
    function* rows() {
      yield [1, 10, 5];
      yield [2, 10, -5];
      yield [3, 10, 0];
      yield [4, 10, 0];
    }
    const spec = computeStats("zscore", rows());
    expect(spec.kind).toBe("zscore");
    expect(spec.stats!.count).toBe(4);
    expect(spec.stats!.mean).toEqual([2.5, 10, 0]);
    expect(spec.stats!.std[0]).toBeCloseTo(Math.sqrt(1.25), 12);
    expect(spec.stats!.std[1]).toBe(0);
    expect(spec.stats!.std[2]).toBeCloseTo(Math.sqrt(12.5), 12);
    expect(spec.stats!.min).toEqual([1, 10, -5]);
    expect(spec.stats!.max).toEqual([4, 10, 5]);
    // JSON round trip keeps it valid.
    expect(validatePreprocessSpec(JSON.parse(JSON.stringify(spec)), 3)).toEqual(spec);
  });

  it("stays accurate for large offsets (Welford, no cancellation)", () => {
    const acc = createStatsAccumulator(1);
    for (let i = 0; i < 10000; i++) acc.add([1e9 + (i % 2)]);
    const stats = acc.finish();
    expect(stats.mean[0]).toBeCloseTo(1e9 + 0.5, 6);
    expect(stats.std[0]).toBeCloseTo(0.5, 9);
  });

  it("refuses NaN/Inf, ragged rows and no rows", () => {
    expect(errorOf(() => computeStats("zscore", [[1, 2], [3, Number.NaN]])).data).toEqual({ row: 2, feature: 1 });
    expect(errorOf(() => computeStats("minmax", [[1, 2], [Infinity, 1]])).code).toBe("PREPROCESS_NOT_FINITE");
    expect(errorOf(() => computeStats("zscore", [[1, 2], [3]])).data).toEqual({ row: 2, expected: 2, actual: 1 });
    expect(errorOf(() => computeStats("zscore", [])).code).toBe("PREPROCESS_NO_ROWS");
    expect(computeStats("scale", [], { factor: 16 })).toEqual({ kind: "scale", factor: 16 });
    expect(errorOf(() => computeStats("scale", [])).code).toBe("PREPROCESS_BAD_SPEC");
    expect(computeStats("none", [])).toEqual({ kind: "none" });
  });
});

describe("applyPreprocess", () => {
  const zscore: PreprocessSpec = computeStats("zscore", [[1, 10], [3, 10]]);
  const minmax: PreprocessSpec = computeStats("minmax", [[0, 10], [16, 10]]);

  it("transforms in place, row by row, constant features to 0", () => {
    const x = Float32Array.from([2, 10, 3, 10]);
    expect(applyPreprocess(zscore, x)).toBe(x);
    expect(Array.from(x)).toEqual([0, 0, 1, 0]);
    expect(Array.from(applyPreprocess(minmax, Float32Array.from([8, 10])))).toEqual([0.5, 0]);
    expect(Array.from(applyPreprocess({ kind: "scale", factor: 16 }, Float32Array.from([8, 16])))).toEqual([0.5, 1]);
    expect(Array.from(applyPreprocess({ kind: "none" }, Float32Array.from([8, 16])))).toEqual([8, 16]);
  });

  it("refuses non-finite input without changing anything, and a length that does not fit", () => {
    const x = Float32Array.from([2, Number.NaN]);
    expect(errorOf(() => applyPreprocess(zscore, x)).data).toEqual({ index: 1 });
    expect(x[0]).toBe(2);
    expect(errorOf(() => applyPreprocess(zscore, Float32Array.from([1, 2, 3]))).code).toBe("PREPROCESS_STATS_MISMATCH");
  });
});

describe("validatePreprocessSpec", () => {
  it("names both sizes when the statistics do not fit the model", () => {
    const spec = computeStats("zscore", [[1, 2, 3]]);
    const e = errorOf(() => validatePreprocessSpec(spec, 64, "stats.json"));
    expect(e.code).toBe("PREPROCESS_STATS_MISMATCH");
    expect(e.data).toEqual({ expected: 64, actual: 3 });
    expect(e.message).toMatch(/stats\.json.*3 features.*64 inputs/);
  });
  it("refuses malformed JSON specs", () => {
    const bad: unknown[] = [
      null,
      { kind: "whiten" },
      { kind: "scale" },
      { kind: "scale", factor: 0 },
      { kind: "zscore" },
      { kind: "zscore", stats: { count: 0, mean: [1], std: [1] } },
      { kind: "zscore", stats: { count: 1, mean: [1, 2], std: [1] } },
      { kind: "zscore", stats: { count: 1, mean: [1], std: [-1] } },
      { kind: "zscore", stats: { count: 1, mean: ["1"], std: [1] } },
      { kind: "minmax", stats: { count: 1, min: [2], max: [1] } },
    ];
    for (const value of bad) expect(errorOf(() => validatePreprocessSpec(value)).code).toMatch(/^PREPROCESS_BAD_(SPEC|STATS)$/);
    expect(validatePreprocessSpec({ kind: "none" })).toEqual({ kind: "none" });
  });
});
