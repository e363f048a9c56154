import { describe, expect, it } from "vitest";
import { parseJobCreateOptions, type JobCreateOptions } from "../../../../src/cli/commands/job/create.js";
import { effectiveHyper } from "../../../../src/contributor/trainForJob.js";
import type { RoundInfo } from "../../../../src/orchestrator/types.js";

const base: JobCreateOptions = {
  model: "m", rounds: "2", minContributors: "3", deadline: "10m", epochs: "2", batchSize: "32", lr: "0.01", optimizer: "sgd",
  strategy: "fedavg", encoding: "float32", reward: "1000",
};

describe("dat job create flags", () => {
  it("parses every flag", async () => {
    const input = await parseJobCreateOptions({
      ...base, maxContributors: "5", strategyParam: ["beta=0.2"], strategy: "trimmed-mean", dpClip: "1.5", dpNoise: "0.5",
      validation: "val.csv", labelColumn: "label", gateToken: "0x" + "Ab".repeat(20), gateMin: "0", encryptModel: true,
    });
    expect(input).toMatchObject({
      rounds: 2, minContributors: 3, maxContributors: 5, deadlineSeconds: 600, hyper: { epochs: 2, batchSize: 32, lr: 0.01, optimizer: "sgd" },
      strategy: "trimmed-mean", strategyParams: { beta: "0.2" }, dpClip: 1.5, dpNoise: 0.5, rewardPerRound: "1000000000000000000000",
      labelColumn: "label", gateToken: "0x" + "ab".repeat(20), gateMin: "0", encryptModel: true,
    });
  });
  it.each([
    [{ rounds: "0" }, /--rounds/],
    [{ minContributors: "two" }, /--min-contributors/],
    [{ deadline: "soon" }, /--deadline/],
    [{ optimizer: "rmsprop" }, /--optimizer/],
    [{ lr: "-1" }, /--lr/],
    [{ reward: "1.5.2" }, /--reward/],
    [{ reward: "0.0000000000000000001" }, /--reward/],
    [{ gateToken: "0x12" }, /--gate-token/],
    [{ gateMin: "-3" }, /--gate-min/],
    [{ validation: "v.csv" }, /--label-column/],
    [{ strategyParam: ["oops"] }, /key=value/],
  ] as [Partial<JobCreateOptions>, RegExp][])("rejects %o", async (bad, message) => {
    await expect(parseJobCreateOptions({ ...base, ...bad })).rejects.toThrow(message);
  });
});

describe("dat job create: a gate needs a stake", () => {
  it("refuses --gate-min above 0 without a positive --min-stake (exit 3, hint names the flag)", async () => {
    const { resolveJobInput } = await import("../../../../src/orchestrator/jobs.js");
    for (const extra of [{}, { minStake: "0" }, { minStake: "0wei" }]) {
      await expect(resolveJobInput(await parseJobCreateOptions({ ...base, gateMin: "1", ...extra }))).rejects.toMatchObject({
        code: "JOB_GATE_WITHOUT_STAKE", exitCode: 3, hint: expect.stringContaining("--min-stake"), data: { field: "minStake" },
      });
    }
    // With a stake, with a public gate (0) or with the default inference gate: accepted.
    for (const ok of [{ gateMin: "1", minStake: "1" }, { gateMin: "0.5", minStake: "1000wei" }, { gateMin: "0" }, {}]) {
      await expect(resolveJobInput(await parseJobCreateOptions({ ...base, ...ok }))).resolves.toMatchObject({ spec: { rounds: 2 } });
    }
  });
});

describe("contributor hyper-parameters", () => {
  const round = { hyper: { epochs: 3, batchSize: 32, lr: 0.1, optimizer: "sgd" } } as RoundInfo;
  it("takes the job's, or lower ones", () => {
    expect(effectiveHyper(round, {})).toEqual({ epochs: 3, batchSize: 32 });
    expect(effectiveHyper(round, { epochs: 1, batchSize: 8 })).toEqual({ epochs: 1, batchSize: 8 });
  });
  it("never higher ones", () => {
    expect(() => effectiveHyper(round, { epochs: 4 })).toThrow(/--epochs 4 is above the job's 3/);
    expect(() => effectiveHyper(round, { batchSize: 64 })).toThrow(/--batch-size/);
  });
});

describe("token amounts", () => {
  it("reads whole tokens with 18 decimals and base units with a wei suffix", async () => {
    const { parseTokenAmount } = await import("../../../../src/cli/commands/job/create.js");
    expect(parseTokenAmount("--reward", "100")).toBe((100n * 10n ** 18n).toString());
    expect(parseTokenAmount("--reward", "2.5")).toBe((25n * 10n ** 17n).toString());
    expect(parseTokenAmount("--gate-min", "1000wei")).toBe("1000");
    expect(parseTokenAmount("--gate-min", "0")).toBe("0");
    expect(() => parseTokenAmount("--reward", "-1")).toThrow(/--reward/);
    expect(() => parseTokenAmount("--reward", "1e18")).toThrow(/--reward/);
  });
});

describe("dat serve options", () => {
  it("hands the inference routes the config loaded with this invocation's --rpc-url", async () => {
    const fs = await import("node:fs");
    const { tempHome } = await import("../../../orchestrator/helpers.js");
    const { loadConfig } = await import("../../../../src/config/index.js");
    const { serverOptions } = await import("../../../../src/cli/commands/serve/serve.js");
    const home = tempHome();
    try {
      const ctx = { home, env: { DAT_OPERATOR_TOKEN: "tok-from-env-0123456789" }, rpcUrl: "http://127.0.0.1:9999" } as never;
      const config = (await loadConfig(ctx)).values;
      const options = serverOptions(ctx, {} as never, config);
      expect((options.pluginDeps?.config as typeof config).chain.rpcUrl).toBe("http://127.0.0.1:9999");
      expect(options.operatorToken).toBe("tok-from-env-0123456789");
      expect(options.home).toBe(home);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
