import { describe, expect, it } from "vitest";
import { UserError } from "../../../src/core/errors.js";
import { STRATEGY_NAMES, createStrategy, parseStrategyParams } from "../../../src/core/aggregate/index.js";

function codeAndParam(fn: () => unknown): { code?: string; param?: unknown; message?: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    const e = error as UserError;
    return { code: e.code, param: e.data?.param, message: e.message };
  }
  throw new Error("expected an error");
}

describe("createStrategy", () => {
  it("builds every documented strategy with its defaults", () => {
    expect(STRATEGY_NAMES).toEqual(["fedavg", "fedprox", "fedavgm", "fedadam", "median", "trimmed-mean", "krum", "multi-krum", "centered-clip"]);
    for (const name of STRATEGY_NAMES) expect(createStrategy(name).name).toBe(name);
    expect(createStrategy("fedadam").params).toEqual({ "server-lr": 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 });
    expect(createStrategy("trimmed-mean").params).toEqual({ beta: 0.1 });
    expect(createStrategy("multi-krum", { f: "1", m: "3" }).params).toEqual({ f: 1, m: 3 });
  });

  it("accepts snake_case and camelCase spellings of a key", () => {
    expect(createStrategy("fedavgm", { server_lr: "0.5" }).params["server-lr"]).toBe(0.5);
    expect(createStrategy("fedavgm", { serverLr: "1e-1" }).params["server-lr"]).toBe(0.1);
  });

  it("names the bad parameter", () => {
    expect(codeAndParam(() => createStrategy("fedavg-typo"))).toMatchObject({ code: "STRATEGY_UNKNOWN" });
    expect(codeAndParam(() => createStrategy("fedavg", { mu: "1" }))).toMatchObject({ code: "STRATEGY_BAD_PARAM", param: "mu" });
    expect(codeAndParam(() => createStrategy("fedavgm", { momentm: "0.9" }))).toMatchObject({ param: "momentm" });
    expect(codeAndParam(() => createStrategy("fedavgm", { momentum: "abc" }))).toMatchObject({ param: "momentum" });
    expect(codeAndParam(() => createStrategy("fedavgm", { momentum: "0.9x" }))).toMatchObject({ param: "momentum" });
    expect(codeAndParam(() => createStrategy("fedavgm", { momentum: "1" })).message).toMatch(/out of range/);
    expect(codeAndParam(() => createStrategy("fedavgm", { "server-lr": "0" })).message).toMatch(/out of range/);
    expect(codeAndParam(() => createStrategy("fedadam", { tau: "-1" }))).toMatchObject({ param: "tau" });
    expect(codeAndParam(() => createStrategy("fedadam", { beta2: "Infinity" }))).toMatchObject({ param: "beta2" });
    expect(codeAndParam(() => createStrategy("trimmed-mean", { beta: "0.5" }))).toMatchObject({ param: "beta" });
    expect(codeAndParam(() => createStrategy("krum", { f: "1.5" })).message).toMatch(/whole number/);
    expect(codeAndParam(() => createStrategy("krum", { m: "2" }))).toMatchObject({ param: "m" });
    expect(codeAndParam(() => createStrategy("multi-krum", { m: "0" }))).toMatchObject({ param: "m" });
    expect(codeAndParam(() => createStrategy("fedavgm", { server_lr: "1", "server-lr": "1" })).message).toMatch(/twice/);
  });
});

describe("parseStrategyParams", () => {
  it("parses repeated k=v values", () => {
    expect(parseStrategyParams(["f=1", " m = 3 ", "x=a=b"])).toEqual({ f: "1", m: "3", x: "a=b" });
    expect(parseStrategyParams(undefined)).toEqual({});
  });

  it("rejects malformed entries, naming them", () => {
    for (const bad of ["momentum", "=0.9", "momentum=", "  = "]) {
      expect(codeAndParam(() => parseStrategyParams([bad])).code).toBe("STRATEGY_BAD_PARAM");
    }
    expect(codeAndParam(() => parseStrategyParams(["f=1", "f=2"]))).toMatchObject({ param: "f" });
  });
});

describe("Strategy.params round-trips and minUpdates", () => {
  it("rebuilds the same strategy from its stored numeric params", () => {
    for (const [name, params] of [
      ["fedadam", { tau: "1e-4" }],
      ["multi-krum", { f: "1", m: "2" }],
      ["trimmed-mean", { beta: "0.3" }],
    ] as const) {
      const first = createStrategy(name, params);
      expect(createStrategy(name, first.params).params).toEqual(first.params);
    }
  });

  it("minUpdates is the smallest count that aggregates", async () => {
    const { update } = await import("./helpers.js");
    const cases: [string, Record<string, string>][] = [
      ["fedavg", {}],
      ["median", {}],
      ["krum", {}],
      ["krum", { f: "1" }],
      ["multi-krum", { m: "5" }],
      ["multi-krum", { f: "2", m: "6" }],
    ];
    for (const [name, params] of cases) {
      const strategy = createStrategy(name, params);
      const min = strategy.minUpdates();
      const updates = Array.from({ length: min }, (_, i) => update(`c${i}`, 1, [i, -i]));
      expect(() => strategy.aggregate(updates), `${name} at ${min}`).not.toThrow();
      if (min > 1) expect(() => strategy.aggregate(updates.slice(1)), `${name} at ${min - 1}`).toThrow(UserError);
    }
  });
});
