/**
 * An orchestrator that requires on-chain registration (`dat serve --onchain`), against a real
 * Hardhat Network node: an address absent from the NodeRegistry is refused at registration and at
 * submission; a registered one is accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";
import { startDevnet, type Devnet } from "../../src/chain/devnet.js";
import { connectChain, type ChainConnection } from "../../src/chain/clients.js";
import { deployContracts, type DeployedContracts } from "../../src/chain/deploy.js";
import { registerNode as registerOnchain, unregisterNode as unregisterOnchain } from "../../src/chain/registry.js";
import { loadConfig } from "../../src/config/index.js";
import { DeniedError } from "../../src/core/errors.js";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { onchainRegistrationCheck } from "../../src/orchestrator/onchain.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { account, constantDelta, jobInput, tempHome, tinyModel } from "./helpers.js";

let devnet: Devnet;
let contracts: DeployedContracts;
let alice: ChainConnection;
let aliceKey: PrivateKeyAccount;
let orch: EmbeddedOrchestrator;

beforeAll(async () => {
  devnet = await startDevnet({ port: 0, accounts: 2 });
  const owner = await connectChain({ rpcUrl: devnet.url, account: privateKeyToAccount(devnet.accounts[0]) });
  contracts = await deployContracts(owner.walletClient!, owner.publicClient);
  aliceKey = privateKeyToAccount(devnet.accounts[1]);
  alice = await connectChain({ rpcUrl: devnet.url, account: aliceKey });
  const home = tempHome("dat-onchain-");
  const base = (await loadConfig({ home, env: {} })).values;
  const config = { ...base, chain: { ...base.chain, rpcUrl: devnet.url, chainId: devnet.chainId, deployments: { [devnet.chainId]: contracts } } };
  orch = await createEmbeddedOrchestrator({ home, isRegistered: await onchainRegistrationCheck(config) });
}, 60_000);

afterAll(async () => {
  await orch?.close();
  await devnet?.stop();
});

async function denial(promise: Promise<unknown>): Promise<DeniedError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(DeniedError);
  return error as DeniedError;
}

describe("orchestrator requiring on-chain registration", () => {
  it("refuses an address absent from the NodeRegistry and accepts a registered one", async () => {
    // Prepare
    const stranger = account();
    const wallet = aliceKey;

    // Execute
    const refused = await denial(orch.registerNode(await buildRegistration(stranger, "cpu", { cpus: 1 })));
    const aliceBefore = await denial(orch.registerNode(await buildRegistration(wallet, "cpu", { cpus: 2 })));
    await registerOnchain(alice.publicClient, alice.walletClient!, contracts.registry, "bafkreimetadata");
    const node = await orch.registerNode(await buildRegistration(wallet, "cpu", { cpus: 2 }));

    // Assert
    expect(refused.code).toBe("NODE_NOT_ONCHAIN");
    expect(refused.hint).toContain("dat node register --onchain");
    expect(aliceBefore.code).toBe("NODE_NOT_ONCHAIN");
    expect(node.address.toLowerCase()).toBe(wallet.address.toLowerCase());
  });

  it("checks the registry again at submission", async () => {
    // Prepare: alice is registered with the orchestrator (previous test), then leaves the registry.
    const { bytes, view } = await tinyModel();
    const job = await orch.createJob(jobInput({ minContributors: 1 }), bytes);
    const round = await orch.openRound(job.id);
    const wallet = aliceKey;
    await unregisterOnchain(alice.publicClient, alice.walletClient!, contracts.registry);

    // Execute
    const first = await buildSubmission({ account: wallet, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
    const refused = await denial(orch.submit(first.submission, first.sealed));
    await registerOnchain(alice.publicClient, alice.walletClient!, contracts.registry, "bafkreimetadata");
    const receipt = await orch.submit(first.submission, first.sealed);

    // Assert
    expect(refused.code).toBe("NODE_NOT_ONCHAIN");
    expect(receipt).toMatchObject({ jobId: job.id, round: round.round, accepted: 1 });
  });
});
