/**
 * Who counts as a contributor for a gated model download (issue 13, "the gated model never leaves
 * the gate"): in a job with a minimum stake, registration is free and proves nothing, so only a
 * registered node whose stake meets the minimum now; in a job without one, any registered node.
 * The stake reader is a double holding stakes in a map, as the chain's contract would report them.
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildRegistration } from "../../src/contributor/submission.js";
import { openDatabase } from "../../src/db/index.js";
import { checkModelAccess, isContributor, MODEL_CHALLENGE_HEADER, type StakeReader } from "../../src/inference/modelAccess.js";
import { issueChallenge, signChallenge } from "../../src/inference/challenge.js";
import type { InferenceEngine } from "../../src/inference/engine.js";
import { account, jobInput, tempHome, tinyModel } from "../orchestrator/helpers.js";

function stakes(held: Record<string, bigint>, chainMin = 0n, fail = false): StakeReader {
  return {
    opening: async () => {
      if (fail) throw new Error("RPC unreachable");
      return { block: 42n, minStake: chainMin };
    },
    stakesAt: async (_job, addresses) => ({ stakes: new Map(addresses.map((a) => [a.toLowerCase(), held[a.toLowerCase()] ?? 0n])) }),
  };
}

describe("contributors of a gated job's model", () => {
  let home: string;
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("are staked nodes when the job has a minimum stake, registered nodes otherwise", async () => {
    // Prepare: job 1 needs 10 base units of stake, job 2 none; two registered nodes, one staked.
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes } = await tinyModel();
    await orch.createJob(jobInput({ gateMin: "1", minStake: "10" }), bytes);
    await orch.createJob(jobInput({ gateMin: "1" }), bytes);
    const staked = account();
    const unstaked = account();
    const stranger = account();
    for (const who of [staked, unstaked]) await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
    const db = openDatabase(home);
    const reader = stakes({ [staked.address.toLowerCase()]: 10n, [stranger.address.toLowerCase()]: 50n });
    try {
      // Execute / Assert
      expect(await isContributor(db, 1, staked.address, reader)).toBe(true);
      expect(await isContributor(db, 1, unstaked.address, reader)).toBe(false);
      // Stake without registration is no contributor either.
      expect(await isContributor(db, 1, stranger.address, reader)).toBe(false);
      // The chain's own minimum counts when it is the stricter one.
      expect(await isContributor(db, 1, staked.address, stakes({ [staked.address.toLowerCase()]: 10n }, 11n))).toBe(false);
      // No chain to read, or an unreachable one: no contributor of a staked job passes.
      expect(await isContributor(db, 1, staked.address, undefined)).toBe(false);
      expect(await isContributor(db, 1, staked.address, stakes({}, 0n, true))).toBe(false);
      // A job without a minimum: every registered node, and no one else.
      expect(await isContributor(db, 2, unstaked.address, undefined)).toBe(true);
      expect(await isContributor(db, 2, stranger.address, undefined)).toBe(false);
    } finally {
      db.close();
    }
  });

  it("serves an ungated --encrypt-model job's plaintext to its contributors only (consumers get the encrypted copy)", async () => {
    // Prepare: an --encrypt-model job without a gate; one registered contributor, one stranger.
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes } = await tinyModel();
    const job = await orch.createJob(jobInput({ encryptModel: true }), bytes);
    const contributor = account();
    const stranger = account();
    await orch.registerNode(await buildRegistration(contributor, "cpu", { cpu: "test" }));
    const db = openDatabase(home);
    // The challenge path never touches the inference engine for an ungated job.
    const engine = {} as InferenceEngine;
    const signed = async (who: ReturnType<typeof account>) => {
      const typed = issueChallenge(db, { jobId: String(job.id), purpose: "infer", audience: "dat:local", chainId: 31337 });
      const proof = await signChallenge(who, typed as never);
      return { headers: { [MODEL_CHALLENGE_HEADER]: Buffer.from(JSON.stringify(proof)).toString("base64url") } };
    };
    const notOperator = async () => false;
    try {
      // Execute / Assert
      await expect(checkModelAccess(db, engine, { headers: {} }, job.initialModelCid, notOperator)).rejects.toMatchObject({ code: "MODEL_AUTH_REQUIRED" });
      await expect(checkModelAccess(db, engine, await signed(stranger), job.initialModelCid, notOperator)).rejects.toMatchObject({ code: "MODEL_ACCESS_DENIED" });
      await expect(checkModelAccess(db, engine, await signed(contributor), job.initialModelCid, notOperator)).resolves.toBeUndefined();
      await expect(checkModelAccess(db, engine, { headers: {} }, job.initialModelCid, async () => true)).resolves.toBeUndefined();
    } finally {
      db.close();
    }
  });
});
