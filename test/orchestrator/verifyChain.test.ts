/**
 * `dat round verify`'s chain part: a round published by the embedded orchestrator and settled on a
 * real Hardhat devnet verifies; a wrong model CID, a tampered settlement row or a missing tree
 * does not; an unsettled round is "pending".
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateKeyToAccount } from "viem/accounts";
import { startDevnet, type Devnet } from "../../src/chain/devnet.js";
import { connectChain, type ChainConnection } from "../../src/chain/clients.js";
import { deployContracts, mined, type DeployedContracts } from "../../src/chain/deploy.js";
import { DatToken } from "../../src/chain/artifacts/index.js";
import { settleRound } from "../../src/chain/settle.js";
import { cidsHashOf } from "../../src/chain/rounds.js";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { compareChainRound, verifyRoundOnChain } from "../../src/orchestrator/verifyChain.js";
import type { CloseRoundResult } from "../../src/orchestrator/types.js";
import { account, constantDelta, jobInput, tempHome, tinyModel } from "./helpers.js";

let devnet: Devnet;
let operator: ChainConnection;
let contracts: DeployedContracts;
let home: string;
let orch: EmbeddedOrchestrator;
let closed: CloseRoundResult;

beforeAll(async () => {
  home = tempHome();
  devnet = await startDevnet({ port: 0, accounts: 2 });
  operator = await connectChain({ rpcUrl: devnet.url, account: privateKeyToAccount(devnet.accounts[0]) });
  contracts = await deployContracts(operator.walletClient!, operator.publicClient);
  await mined(operator.publicClient, await operator.walletClient!.writeContract({
    address: contracts.token, abi: DatToken.abi, functionName: "mint", args: [operator.walletClient!.account.address, 10n ** 21n],
  }), "mint");
  orch = await createEmbeddedOrchestrator({ home });
  const { bytes, view } = await tinyModel();
  await orch.createJob(jobInput({ minContributors: 2, rewardPerRound: "1000" }), bytes);
  const round = await orch.openRound(1);
  for (const [who, value] of [[account(), 0.1], [account(), 0.2]] as const) {
    await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
    const built = await buildSubmission({ account: who, round, tensors: constantDelta(view, value), sampleCount: 5 });
    await orch.submit(built.submission, built.sealed);
  }
  closed = await orch.closeRound(1);
  await settleRound({
    db: orch.db, store: orch.store as never, publicClient: operator.publicClient, walletClient: operator.walletClient!,
    distributor: contracts.distributor, jobId: 1, round: 1, modelCid: closed.modelCid!, rewardTotal: 1000n, scores: closed.scores,
  });
});

afterAll(async () => {
  await orch?.close();
  await devnet?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

function verify(overrides: { modelCid?: string | null; round?: number; getBlob?: (cid: string) => Promise<Uint8Array> } = {}) {
  return verifyRoundOnChain({
    publicClient: operator.publicClient, distributor: contracts.distributor, fromBlock: contracts.blockNumber,
    jobId: 1, round: overrides.round ?? 1, modelCid: overrides.modelCid === undefined ? closed.modelCid : overrides.modelCid,
    getBlob: overrides.getBlob ?? ((cid) => orch.getModel(cid)), db: orch.db,
  });
}

describe("round verify against the chain", () => {
  it("verifies a settled round: model CID, reward root, total, tree", async () => {
    expect(closed.state).toBe("published");
    const result = await verify();
    expect(result.status).toBe("checked");
    expect(result.checks.map((c) => c.what)).toEqual(expect.arrayContaining(["model CID", "reward root (db)", "reward total (db)", "reward tree (store)"]));
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it("fails on a model CID the chain did not publish and on a missing tree", async () => {
    const wrong = await verify({ modelCid: "bafkreiwrongwrongwrongwrongwrongwrong" });
    expect(wrong.checks.find((c) => c.what === "model CID")?.ok).toBe(false);
    const noTree = await verify({ getBlob: async () => { throw new Error("blob gone"); } });
    expect(noTree.checks.find((c) => c.what === "reward tree (store)")).toMatchObject({ ok: false, detail: expect.stringMatching(/blob gone/) });
  });

  it("fails when the database disagrees with the chain", async () => {
    orch.db.prepare("UPDATE settlements SET reward_total = '999' WHERE job_id = '1' AND round = 1").run();
    try {
      const result = await verify();
      expect(result.checks.find((c) => c.what === "reward total (db)")?.ok).toBe(false);
    } finally {
      orch.db.prepare("UPDATE settlements SET reward_total = '1000' WHERE job_id = '1' AND round = 1").run();
    }
  });

  it("reports an unsettled round as pending", async () => {
    const result = await verify({ round: 2, modelCid: null });
    expect(result).toMatchObject({ status: "pending", checks: [] });
  });
});

describe("compareChainRound", () => {
  const onchain = { published: true, rewardRoot: `0x${"0".repeat(64)}` as const, cidsHash: cidsHashOf("m", "") , total: 0n, blockNumber: 5 };
  it("falls back to the stored commitment when the event is out of reach", () => {
    const settlement = { treeCid: "", modelCid: "m", rewardRoot: onchain.rewardRoot, rewardTotal: 0n, status: "published" } as never;
    expect(compareChainRound({ modelCid: "m", onchain, settlement, cidsHashOf }).checks.every((c) => c.ok)).toBe(true);
    expect(compareChainRound({ modelCid: "other", onchain, settlement, cidsHashOf }).checks.find((c) => c.what === "model CID")?.ok).toBe(false);
  });
  it("flags a settled row with no on-chain record", () => {
    const settlement = { status: "published", txHash: "0xabc" } as never;
    const result = compareChainRound({ modelCid: "m", onchain: { ...onchain, published: false }, settlement, cidsHashOf });
    expect(result.checks).toMatchObject([{ what: "on-chain record", ok: false }]);
  });
  it("flags a published round the orchestrator has no model for", () => {
    const result = compareChainRound({ modelCid: null, onchain: { ...onchain, modelCid: "m", treeCid: "" }, cidsHashOf });
    expect(result.checks[0]).toMatchObject({ what: "model CID", ok: false });
  });
});
