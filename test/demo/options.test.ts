import { describe, expect, it } from "vitest";
import { DEMO_DEFAULTS, parseDemoOptions, parsePartitionSpec, parseRewardAmount } from "../../src/demo/options.js";
import { DatError, ExitCode } from "../../src/core/errors.js";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof DatError ? error.code : "NOT_A_DAT_ERROR";
  }
  return undefined;
}

describe("parseDemoOptions", () => {
  it("fills every default when nothing is given", () => {
    const o = parseDemoOptions({});
    expect(o.contributors).toBe(DEMO_DEFAULTS.contributors);
    expect(o.rounds).toBe(DEMO_DEFAULTS.rounds);
    expect(o.strategy).toBe("fedavg");
    expect(o.encoding).toBe("float32");
    expect(o.partition).toBe("iid");
    expect(o.attackers).toBe(0);
    expect(o.attack).toEqual({ kind: "sign-flip", factor: 1 });
    expect(o.dpClip).toBeUndefined();
    expect(o.dpNoise).toBeUndefined();
    expect(o.reward).toBe("100");
    expect(o.keep).toBe(false);
  });

  it("turns --strategy robust into core's recommended Multi-Krum (30% of each round tolerated, server momentum 0.7), a given f taking precedence", () => {
    expect(parseDemoOptions({ strategy: "robust", contributors: "10", attackers: "2", attack: "zero" })).toMatchObject({
      strategy: "multi-krum",
      strategyParams: { fraction: "0.3", momentum: "0.7" },
      attackers: 2,
      attack: { kind: "zero" },
    });
    expect(parseDemoOptions({ strategy: "robust", strategyParam: ["f=1"] }).strategyParams).toEqual({ fraction: "0.3", momentum: "0.7", f: "1" });
    expect(() => parseDemoOptions({ strategy: "robust", strategyParam: ["fraction=0.5"] })).toThrow(expect.objectContaining({ code: "STRATEGY_BAD_PARAM" }));
  });

  it("accepts a full set of valid options and canonicalises them", () => {
    const o = parseDemoOptions({
      contributors: "5",
      rounds: "4",
      strategy: "trimmed-mean",
      strategyParam: ["beta=0.2"],
      encoding: "int8:256",
      partition: "dirichlet:0.50",
      epochs: "1",
      seed: "42",
      attackers: "1",
      attack: "scale:20",
      dpClip: "1.5",
      dpNoise: "0.3",
      data: "/tmp/x.csv",
      labelColumn: "label",
      testSplit: "0.25",
      reward: "12.5",
      keep: true,
    });
    expect(o).toMatchObject({
      contributors: 5,
      rounds: 4,
      strategy: "trimmed-mean",
      strategyParams: { beta: "0.2" },
      encoding: "int8:256",
      partition: "dirichlet:0.5",
      epochs: 1,
      seed: 42,
      attackers: 1,
      attack: { kind: "scale", factor: 20 },
      dpClip: 1.5,
      dpNoise: 0.3,
      data: "/tmp/x.csv",
      labelColumn: "label",
      testSplit: 0.25,
      reward: "12.5",
      keep: true,
    });
  });

  it("defaults the noise to 0 when only clipping is asked for", () => {
    expect(parseDemoOptions({ dpClip: "2" })).toMatchObject({ dpClip: 2, dpNoise: 0 });
  });

  it.each([
    [{ contributors: "0" }, "DEMO_BAD_OPTION"],
    [{ contributors: "three" }, "DEMO_BAD_OPTION"],
    [{ contributors: "2.5" }, "DEMO_BAD_OPTION"],
    [{ rounds: "-1" }, "DEMO_BAD_OPTION"],
    [{ epochs: "" }, "DEMO_BAD_OPTION"],
    [{ seed: "1e3" }, "DEMO_BAD_OPTION"],
    [{ attackers: "3" }, "DEMO_BAD_OPTION"],
    [{ attackers: "1", attack: "poison" }, "BAD_ATTACK"],
    [{ attackers: "1", attack: "scale:-2" }, "BAD_ATTACK"],
    [{ lr: "0" }, "DEMO_BAD_OPTION"],
    [{ strategy: "average" }, "STRATEGY_UNKNOWN"],
    [{ strategy: "krum", strategyParam: ["f"] }, "STRATEGY_BAD_PARAM"],
    [{ strategy: "fedavg", strategyParam: ["mu=1"] }, "STRATEGY_BAD_PARAM"],
    [{ encoding: "int4" }, "DELTA_BAD_ENCODING"],
    [{ encoding: "topk:2" }, "DELTA_BAD_ENCODING"],
    [{ partition: "random" }, "PARTITION_SCHEME"],
    [{ partition: "dirichlet:0" }, "PARTITION_SCHEME"],
    [{ partition: "shards:1.5" }, "PARTITION_SCHEME"],
    [{ dpClip: "0" }, "DEMO_BAD_OPTION"],
    [{ dpClip: "abc" }, "DEMO_BAD_OPTION"],
    [{ dpNoise: "0.5" }, "DEMO_BAD_OPTION"],
    [{ dpClip: "1", dpNoise: "-1" }, "DEMO_BAD_OPTION"],
    [{ data: "a.csv", test: "b.csv", testSplit: "0.2" }, "DEMO_BAD_OPTION"],
    [{ test: "b.csv" }, "DEMO_BAD_OPTION"],
    [{ labelColumn: "y" }, "DEMO_BAD_OPTION"],
    [{ data: "a.csv", samples: "100" }, "DEMO_BAD_OPTION"],
    [{ testSplit: "1" }, "DEMO_BAD_OPTION"],
    [{ testSplit: "0" }, "DEMO_BAD_OPTION"],
    [{ reward: "-5" }, "DEMO_BAD_OPTION"],
    [{ reward: "1.0000000000000000001" }, "DEMO_BAD_OPTION"],
    [{ samples: "5" }, "DEMO_BAD_OPTION"],
    [{ threads: "0" }, "DEMO_BAD_OPTION"],
    [{ threads: "1.5" }, "DEMO_BAD_OPTION"],
    [{ threads: "all" }, "DEMO_BAD_OPTION"],
  ])("rejects %j with %s", (raw, code) => {
    expect(codeOf(() => parseDemoOptions(raw))).toBe(code);
  });

  it("takes --threads for the contributors' training, and leaves it to trainLocal's default without it", () => {
    expect(parseDemoOptions({ threads: "2" }).threads).toBe(2);
    expect("threads" in parseDemoOptions({})).toBe(false);
  });

  it("reports malformed options as usage errors (exit code 2) naming the flag", () => {
    try {
      parseDemoOptions({ rounds: "zero" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DatError);
      const e = error as DatError;
      expect(e.exitCode).toBe(ExitCode.usage);
      expect(e.message).toContain("--rounds");
      expect(e.data).toEqual({ flag: "--rounds" });
    }
  });
});

describe("parsePartitionSpec / parseRewardAmount", () => {
  it("canonicalises partition specs", () => {
    expect(parsePartitionSpec(" iid ")).toBe("iid");
    expect(parsePartitionSpec("dirichlet:.5")).toBe("dirichlet:0.5");
    expect(parsePartitionSpec("shards:2")).toBe("shards:2");
  });

  it("keeps reward amounts as decimal strings", () => {
    expect(parseRewardAmount("0")).toBe("0");
    expect(parseRewardAmount("1.5")).toBe("1.5");
    expect(codeOf(() => parseRewardAmount("1e3"))).toBe("DEMO_BAD_OPTION");
    expect(codeOf(() => parseRewardAmount(""))).toBe("DEMO_BAD_OPTION");
  });
});
