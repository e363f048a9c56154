/**
 * Stake at intake (issue 13 item 1): a staked job accepts a submission only from an address whose
 * stake met the minimum at the round's stake block; the stakes are read once per round; a job
 * without a minimum (trusted group) needs none. The oracle here stands for the chain: it holds a
 * stake table of its own (the real chain path: stakeChain.test.ts, on a Hardhat devnet).
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import type { StakeOracle } from "../../src/orchestrator/stake.js";
import { DatError } from "../../src/core/errors.js";
import { account, constantDelta, jobInput, tempHome, tinyModel } from "./helpers.js";

describe("stake at intake", () => {
  let home = "";
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("rejects STAKE_TOO_LOW (held vs required, exit 5), accepts a staked address, one chain read per round", async () => {
    home = tempHome();
    const table = new Map<string, bigint>();
    let reads = 0;
    const oracle: StakeOracle = {
      opening: async () => ({ block: 42n, minStake: 10n }),
      async stakesAt(_job, addresses, block) {
        reads++;
        expect(block).toBe(42n);
        return { stakes: new Map(addresses.map((a) => [a.toLowerCase(), table.get(a.toLowerCase()) ?? 0n])) };
      },
    };
    orch = await createEmbeddedOrchestrator({ home, staking: oracle });
    const { bytes, view } = await tinyModel();
    await orch.createJob(jobInput({ minStake: "10" }), bytes);
    expect((await orch.getJob(1)).minStake).toBe("10");
    const rich = account();
    const poor = account();
    const rich2 = account();
    table.set(rich.address.toLowerCase(), 10n);
    table.set(rich2.address.toLowerCase(), 50n);
    table.set(poor.address.toLowerCase(), 9n);
    for (const a of [rich, poor, rich2]) await orch.registerNode(await buildRegistration(a, "cpu", { cpu: "test" }));
    const round = await orch.openRound(1);
    const submit = async (who: typeof rich) => {
      const built = await buildSubmission({ account: who, round, tensors: constantDelta(view, 0.01), sampleCount: 5 });
      return orch!.submit(built.submission, built.sealed);
    };

    await expect(submit(rich)).resolves.toMatchObject({ accepted: 1 });
    const error = await submit(poor).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatError);
    expect(error).toMatchObject({ code: "STAKE_TOO_LOW", exitCode: 5, data: { held: "9", required: "10", block: 42 } });
    await expect(submit(rich2)).resolves.toMatchObject({ accepted: 2 });
    expect(reads).toBe(1);
  });

  it("a job without a minimum stake needs none; a staked job without a chain refuses (STAKE_UNCHECKABLE)", async () => {
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes, view } = await tinyModel();
    await orch.createJob(jobInput(), bytes);
    await orch.createJob(jobInput({ minStake: "1" }), bytes);
    const who = account();
    await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
    for (const jobId of [1, 2]) {
      const round = await orch.openRound(jobId);
      const built = await buildSubmission({ account: who, round, tensors: constantDelta(view, 0.01), sampleCount: 5 });
      if (jobId === 1) await expect(orch.submit(built.submission, built.sealed)).resolves.toMatchObject({ accepted: 1 });
      else await expect(orch.submit(built.submission, built.sealed)).rejects.toMatchObject({ code: "STAKE_UNCHECKABLE" });
    }
    expect((await orch.getJob(1)).minStake).toBeNull();
  });

  it("rejects a malformed minStake or maxSamples in the job settings", async () => {
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes } = await tinyModel();
    await expect(orch.createJob(jobInput({ minStake: "1.5" }), bytes)).rejects.toBeInstanceOf(DatError);
    await expect(orch.createJob(jobInput({ maxSamples: 0 }), bytes)).rejects.toBeInstanceOf(DatError);
  });
});
