/**
 * Settlement, rewards and claims against a real Hardhat Network node over JSON-RPC (one devnet
 * for the file): three contributors, one publish transaction, each claims, nobody twice.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateKeyToAccount } from "viem/accounts";
import type { Address, Hex } from "viem";
import { startDevnet, type Devnet } from "../../src/chain/devnet.js";
import { connectChain, connectConfiguredChain, type ChainConnection } from "../../src/chain/clients.js";
import type { DeployedContracts } from "../../src/chain/deploy.js";
import { settleRound } from "../../src/chain/settle.js";
import { blockWindows, claimRewards, getRewards, readPublishedRounds, sendClaims } from "../../src/chain/rewards.js";
import { isNodeRegistered, registerNode, unregisterNode } from "../../src/chain/registry.js";
import net from "node:net";
import { cidsHashOf, readOnchainRound } from "../../src/chain/rounds.js";
import { openDatabase } from "../../src/db/index.js";
import { getSettlement } from "../../src/db/settlements.js";
import { listRoundEvents } from "../../src/db/roundEvents.js";
import { loadConfig } from "../../src/config/index.js";
import { openLocalStore } from "../../src/store/local.js";
import { NetworkError, NotFoundError, OperationFailedError, UserError } from "../../src/core/errors.js";
import { sendDat, startDeployedDevnet } from "./helpers.js";

const TOKENS = 10n ** 18n;

let devnet: Devnet;
let operator: ChainConnection;
let contracts: DeployedContracts;
let home: string;
let contributors: ChainConnection[];

async function makeStore() {
  return openLocalStore(home);
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-chain-"));
  ({ devnet, operator, contracts } = await startDeployedDevnet({ accounts: 5, operatorTokens: 1_000n * TOKENS }));
  contributors = await Promise.all(
    devnet.accounts.slice(1, 4).map((key) => connectChain({ rpcUrl: devnet.url, account: privateKeyToAccount(key) })),
  );
});

afterAll(async () => {
  await devnet?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

describe("settle, read and claim a round", () => {
  it("pays three contributors by score, each claims once, a second claim reverts with its reason", async () => {
    // Prepare
    const db = openDatabase(home);
    const store = await makeStore();
    const addresses = contributors.map((c) => c.walletClient!.account.address);
    const scores = [1, 2, 5].map((score, i) => ({ address: addresses[i], score }));

    // Execute
    const settled = await settleRound({
      db, store, publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: contracts.distributor,
      jobId: "1", round: 0, modelCid: "bafy-model-0", rewardTotal: 80n * TOKENS, scores,
    });

    // Assert
    expect(settled.alreadyPublished).toBe(false);
    expect(settled.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(settled.amounts.map((a) => a.amount).sort()).toEqual([10n * TOKENS, 20n * TOKENS, 50n * TOKENS].sort());
    expect(getSettlement(db, "1", 0)?.status).toBe("published");

    const expected = new Map(settled.amounts.map((a) => [a.address, a.amount]));
    for (const c of contributors) {
      const address = c.walletClient!.account.address;
      const report = await getRewards({ publicClient: c.publicClient, distributor: contracts.distributor, fromBlock: contracts.blockNumber, store, address });
      expect(report.claimable).toBe(expected.get(address.toLowerCase()));
      expect(report.balance).toBe(0n);
      const claim = await claimRewards({ publicClient: c.publicClient, walletClient: c.walletClient!, distributor: contracts.distributor, fromBlock: contracts.blockNumber, store });
      expect(claim.txHashes).toHaveLength(1);
      expect(claim.balance).toBe(expected.get(address.toLowerCase()));
      const again = await claimRewards({ publicClient: c.publicClient, walletClient: c.walletClient!, distributor: contracts.distributor, fromBlock: contracts.blockNumber, store });
      expect(again.txHashes).toHaveLength(0);
    }

    const first = contributors[0];
    const entry = (await getRewards({ publicClient: first.publicClient, distributor: contracts.distributor, fromBlock: contracts.blockNumber, store, address: first.walletClient!.account.address })).entries[0];
    expect(entry.claimed).toBe(true);
    const error = await sendClaims(first.publicClient, first.walletClient!, contracts.distributor, [entry]).catch((e) => e);
    expect(error).toBeInstanceOf(OperationFailedError);
    expect(error.data.reason).toBe("AlreadyClaimed");
    expect(error.message).toContain("AlreadyClaimed");
    db.close();
  });

  it("refuses a claim with a wrong proof or a wrong amount, decoded", async () => {
    const db = openDatabase(home);
    const store = await makeStore();
    const [a, b] = contributors.map((c) => c.walletClient!.account.address);
    await settleRound({
      db, store, publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: contracts.distributor,
      jobId: "1", round: 1, modelCid: "bafy-model-1", rewardTotal: 10n * TOKENS, scores: [{ address: a, score: 1 }, { address: b, score: 1 }],
    });
    const c = contributors[0];
    const entry = (await getRewards({ publicClient: c.publicClient, distributor: contracts.distributor, fromBlock: contracts.blockNumber, store, address: a, jobId: "1" })).entries.find((e) => e.round === 1)!;
    const wrongProof = await sendClaims(c.publicClient, c.walletClient!, contracts.distributor, [{ ...entry, proof: [`0x${"12".repeat(32)}` as Hex] }]).catch((e) => e);
    expect(wrongProof).toBeInstanceOf(OperationFailedError);
    expect(wrongProof.data.reason).toBe("InvalidProof");
    const greedy = await sendClaims(c.publicClient, c.walletClient!, contracts.distributor, [{ ...entry, amount: entry.amount + 1n }]).catch((e) => e);
    expect(greedy.data.reason).toBe("InvalidProof");
    const unpublished = await sendClaims(c.publicClient, c.walletClient!, contracts.distributor, [{ ...entry, round: 99 }]).catch((e) => e);
    expect(unpublished.data.reason).toBe("RoundNotPublished");
    db.close();
  });

  it("publishing twice sends no second transaction, even from a home that lost its record", async () => {
    const db = openDatabase(home);
    const store = await makeStore();
    const [a] = contributors.map((c) => c.walletClient!.account.address);
    const options = {
      db, store, publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: contracts.distributor,
      jobId: "2", round: 0, modelCid: "bafy-model-2", rewardTotal: 7n * TOKENS, scores: [{ address: a, score: 3 }],
    };
    const first = await settleRound(options);
    const nonce = await operator.publicClient.getTransactionCount({ address: operator.walletClient!.account.address });

    const second = await settleRound(options);
    const otherHome = fs.mkdtempSync(path.join(os.tmpdir(), "dat-chain-other-"));
    const otherDb = openDatabase(otherHome);
    const third = await settleRound({ ...options, db: otherDb });

    expect(second.alreadyPublished).toBe(true);
    expect(second.txHash).toBe(first.txHash);
    expect(third.alreadyPublished).toBe(true);
    const onchain = await readOnchainRound(operator.publicClient, contracts.distributor, { jobId: "2", round: 0, fromBlock: contracts.blockNumber });
    expect(onchain).toMatchObject({ published: true, rewardRoot: first.rewardRoot, total: 7n * TOKENS, modelCid: "bafy-model-2", treeCid: first.treeCid, txHash: first.txHash });
    expect(onchain.cidsHash).toBe(cidsHashOf("bafy-model-2", first.treeCid));
    expect((await readOnchainRound(operator.publicClient, contracts.distributor, { jobId: "2", round: 5, fromBlock: 0 })).published).toBe(false);
    expect(getSettlement(otherDb, "2", 0)?.status).toBe("published");
    expect(await operator.publicClient.getTransactionCount({ address: operator.walletClient!.account.address })).toBe(nonce);
    // One round.published event per home, with the transaction, however often the round is settled.
    const published = (d: typeof db) => listRoundEvents(d, 2).filter((e) => e.type === "round.published" && e.round === 0);
    expect(published(db).map((e) => e.data)).toEqual([{ txHash: first.txHash }]);
    // The home that lost its record found the round on chain: announced, without a transaction it never saw.
    expect(published(otherDb).map((e) => e.data)).toEqual([{ txHash: null }]);
    otherDb.close();
    db.close();
  });

  it("keeps a round unpublished when the pool cannot be funded, and publishes it on retry", async () => {
    const db = openDatabase(home);
    const store = await makeStore();
    const [a] = contributors.map((c) => c.walletClient!.account.address);
    const options = {
      db, store, publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: contracts.distributor,
      jobId: "3", round: 0, modelCid: "bafy-model-3", rewardTotal: 5_000n * TOKENS, scores: [{ address: a, score: 1 }],
    };
    const error = await settleRound(options).catch((e) => e);
    expect(error).toBeInstanceOf(OperationFailedError);
    expect(error.code).toBe("INSUFFICIENT_POOL");
    const pending = getSettlement(db, "3", 0)!;
    expect(pending.status).toBe("pending");
    expect(pending.lastError).toContain("needs");
    expect(listRoundEvents(db, 3).filter((e) => e.type === "round.published")).toEqual([]);

    await sendDat({ operator, contracts }, "mint", operator.walletClient!.account.address, 5_000n * TOKENS);
    const retried = await settleRound({ ...options, rewardTotal: 1n, scores: [] });
    expect(retried.total).toBe(5_000n * TOKENS);
    expect(getSettlement(db, "3", 0)?.status).toBe("published");
    // The retry (what `dat round publish` runs) announces the round.
    expect(listRoundEvents(db, 3).filter((e) => e.type === "round.published").map((e) => e.data)).toEqual([{ txHash: retried.txHash }]);
    db.close();
  });
});

describe("claiming several rounds", () => {
  it("claims every unclaimed round of several jobs in one transaction", async () => {
    const store = await makeStore();
    const c = contributors[0];
    const args = { publicClient: c.publicClient, distributor: contracts.distributor, fromBlock: contracts.blockNumber, store };
    const before = await getRewards({ ...args, address: c.walletClient!.account.address });
    const pending = before.entries.filter((e) => !e.claimed);
    expect(pending.length).toBeGreaterThanOrEqual(3);

    const result = await claimRewards({ ...args, walletClient: c.walletClient! });

    expect(result.txHashes).toHaveLength(1);
    expect(result.claimed).toHaveLength(pending.length);
    expect(result.balance).toBe(before.balance + before.claimable);
    const after = await getRewards({ ...args, address: c.walletClient!.account.address });
    expect(after.claimable).toBe(0n);
    expect(after.claimed).toBe(after.earned);
  });
});

describe("chain misconfiguration", () => {
  it("reports a wrong chain id, a missing contract and a down RPC clearly", async () => {
    const config = (await loadConfig({ home, env: {} })).values;
    const wrongChain = await connectConfiguredChain({ ...config, chain: { ...config.chain, rpcUrl: devnet.url, chainId: 1 } }).catch((e) => e);
    expect(wrongChain).toBeInstanceOf(UserError);
    expect(wrongChain.code).toBe("WRONG_CHAIN");

    const nowhere = "0x000000000000000000000000000000000000dEaD" as Address;
    const noCode = await connectConfiguredChain({
      ...config,
      chain: { rpcUrl: devnet.url, chainId: devnet.chainId, deployments: { [devnet.chainId]: { ...contracts, distributor: nowhere } } },
    }).catch((e) => e);
    expect(noCode).toBeInstanceOf(NotFoundError);
    expect(noCode.code).toBe("NO_CONTRACT");

    const noDeployment = await connectConfiguredChain({ ...config, chain: { rpcUrl: devnet.url, deployments: {} } }).catch((e) => e);
    expect(noDeployment).toBeInstanceOf(NotFoundError);
    expect(noDeployment.code).toBe("NO_DEPLOYMENT");

    const taken = await startDevnet({ port: devnet.port, accounts: 1 }).catch((e) => e);
    expect(taken).toBeInstanceOf(UserError);
    expect(taken.code).toBe("PORT_IN_USE");
    await expect(startDevnet({ port: 0, accounts: 0 })).rejects.toBeInstanceOf(UserError);

    const spare = await startDevnet({ port: 0, accounts: 1 });
    const closedUrl = spare.url;
    await spare.stop();
    const down = await connectChain({ rpcUrl: closedUrl, timeoutMs: 2_000 }).catch((e) => e);
    expect(down).toBeInstanceOf(NetworkError);
    expect(down.code).toBe("RPC_UNREACHABLE");
  });
});

describe("node registry", () => {
  it("registers, updates, unregisters, and decodes a refused unregister", async () => {
    const c = contributors[2];
    const address = c.walletClient!.account.address;
    expect(await isNodeRegistered(c.publicClient, contracts.registry, address)).toBe(false);
    await registerNode(c.publicClient, c.walletClient!, contracts.registry, "bafkreimeta1");
    await registerNode(c.publicClient, c.walletClient!, contracts.registry, "bafkreimeta2");
    expect(await isNodeRegistered(c.publicClient, contracts.registry, address)).toBe(true);
    await unregisterNode(c.publicClient, c.walletClient!, contracts.registry);
    expect(await isNodeRegistered(c.publicClient, contracts.registry, address)).toBe(false);
    const twice = await unregisterNode(c.publicClient, c.walletClient!, contracts.registry).catch((e) => e);
    expect(twice).toBeInstanceOf(OperationFailedError);
    expect(twice.data.reason).toBe("NotRegistered");
    await expect(registerNode(c.publicClient, c.walletClient!, contracts.registry, "")).rejects.toBeInstanceOf(UserError);
  });
});

describe("a slow RPC", () => {
  it("times out into a NetworkError", async () => {
    // Accepts connections and never answers.
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const slow = await connectChain({ rpcUrl: `http://127.0.0.1:${port}`, timeoutMs: 300 }).catch((e) => e);
      expect(slow).toBeInstanceOf(NetworkError);
      expect(slow.code).toBe("RPC_UNREACHABLE");
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("event scans in bounded block ranges", () => {
  it("reads the same rounds in windows of 1 and 3 blocks as in one window", async () => {
    // Prepare: several rounds were published by the tests above, in different blocks.
    const args = { publicClient: operator.publicClient, distributor: contracts.distributor, fromBlock: contracts.blockNumber };
    const latest = Number(await operator.publicClient.getBlockNumber());
    expect(latest - contracts.blockNumber).toBeGreaterThan(3);

    // Execute
    const whole = await readPublishedRounds({ ...args, blockRange: latest + 1 });
    const byOne = await readPublishedRounds({ ...args, blockRange: 1 });
    const byThree = await readPublishedRounds({ ...args, blockRange: 3, jobId: "1" });

    // Assert
    expect(whole.length).toBeGreaterThanOrEqual(4);
    expect(byOne).toEqual(whole);
    expect(byThree).toEqual(whole.filter((r) => r.jobId === "1"));
    const store = await makeStore();
    const address = contributors[0].walletClient!.account.address;
    const report = await getRewards({ ...args, store, address, blockRange: 2 });
    expect(report.entries).toEqual((await getRewards({ ...args, store, address })).entries);
  });

  it("splits ranges into inclusive windows and refuses a bad range size", async () => {
    expect(blockWindows(5n, 11n, 3n)).toEqual([
      { fromBlock: 5n, toBlock: 7n }, { fromBlock: 8n, toBlock: 10n }, { fromBlock: 11n, toBlock: 11n },
    ]);
    expect(blockWindows(5n, 4n, 3n)).toEqual([]);
    expect(() => blockWindows(0n, 1n, 0n)).toThrow(RangeError);
    for (const blockRange of [0, -1, 1.5, Number.NaN]) {
      await expect(readPublishedRounds({ publicClient: operator.publicClient, distributor: contracts.distributor, fromBlock: 0, blockRange }))
        .rejects.toMatchObject({ code: "BAD_BLOCK_RANGE" });
    }
  });
});

describe("an operator without ETH", () => {
  it("fails to publish with INSUFFICIENT_FUNDS, leaves the round pending, and publishes on retry", async () => {
    // Prepare
    const db = openDatabase(home);
    const store = await makeStore();
    const address = operator.walletClient!.account.address;
    const before = await operator.publicClient.getBalance({ address });
    await devnet.request({ method: "hardhat_setBalance", params: [address, "0x0"] });
    const options = {
      db, store, publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: contracts.distributor,
      jobId: "9", round: 0, modelCid: "bafy-model-9", rewardTotal: TOKENS, scores: [{ address: contributors[0].walletClient!.account.address, score: 1 }],
    };
    try {
      // Execute
      const error = await settleRound(options).catch((e) => e);

      // Assert
      expect(error).toBeInstanceOf(UserError);
      expect(error.code).toBe("INSUFFICIENT_FUNDS");
      expect(error.message).toMatch(/not enough ETH/);
      const pending = getSettlement(db, "9", 0)!;
      expect(pending.status).toBe("pending");
      expect(pending.lastError).toMatch(/not enough ETH/);
      expect((await readOnchainRound(operator.publicClient, contracts.distributor, { jobId: "9", round: 0, fromBlock: 0 })).published).toBe(false);
    } finally {
      await devnet.request({ method: "hardhat_setBalance", params: [address, `0x${before.toString(16)}`] });
    }
    const retried = await settleRound(options);
    expect(retried.alreadyPublished).toBe(false);
    expect(getSettlement(db, "9", 0)?.status).toBe("published");
    db.close();
  });
});
