/**
 * Staking against a real Hardhat Network node: per-job minimum, stake history at past blocks,
 * two-step unstake with a cooldown, and slashing inside the one publishing transaction — once,
 * only the listed addresses, honest stakes untouched.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateKeyToAccount } from "viem/accounts";
import { getAddress, type Abi, type Address, type Hex } from "viem";
import type { Devnet } from "../../src/chain/devnet.js";
import { connectChain, mined, toChainError, type ChainConnection } from "../../src/chain/clients.js";
import type { DeployedContracts } from "../../src/chain/deploy.js";
import { DatToken, RewardDistributor, Staking } from "../../src/chain/artifacts/index.js";
import {
  eligibleStakers, formatDuration, getJobMinStake, getStake, readSlashes, requestUnstake, setJobMinStake, stakeAt, stakeForJob,
  stakingAddress, withdrawStake,
} from "../../src/chain/staking.js";
import { settleRound, sortSlashes } from "../../src/chain/settle.js";
import { getRewards } from "../../src/chain/rewards.js";
import { openDatabase } from "../../src/db/index.js";
import { openLocalStore } from "../../src/store/local.js";
import { DatError } from "../../src/core/errors.js";
import { sendDat, startDeployedDevnet } from "./helpers.js";

const TOKENS = 10n ** 18n;
const COOLDOWN = 3_600;

let devnet: Devnet;
let operator: ChainConnection;
let contracts: DeployedContracts;
let users: ChainConnection[];
let home: string;

const addressOf = (c: ChainConnection) => c.walletClient!.account.address;

/** The error a promise rejects with, as dat's error (decoded revert reason for contract calls). */
async function failure(promise: Promise<unknown>, what = "call"): Promise<DatError> {
  try {
    await promise;
  } catch (error) {
    return toChainError(error, what);
  }
  throw new Error("expected a failure");
}

async function rpc(method: string, params: unknown[] = []): Promise<unknown> {
  return devnet.request({ method, params });
}

async function blockNumber(): Promise<bigint> {
  return operator.publicClient.getBlockNumber({ cacheTime: 0 });
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-staking-"));
  ({ devnet, operator, contracts } = await startDeployedDevnet({ accounts: 7, operatorTokens: 10_000n * TOKENS }));
  users = await Promise.all(devnet.accounts.slice(1).map((key) => connectChain({ rpcUrl: devnet.url, account: privateKeyToAccount(key) })));
  for (const u of users) await sendDat({ operator, contracts }, "transfer", addressOf(u), 100n * TOKENS);
});

afterAll(async () => {
  await devnet?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

describe("staking rules of a job", () => {
  it("the operator sets a job's minimum and cooldown; anyone else is refused", async () => {
    await setJobMinStake(operator.publicClient, operator.walletClient!, { staking: contracts.staking, jobId: "1", amount: 10n * TOKENS, cooldown: COOLDOWN });
    expect(await getJobMinStake(operator.publicClient, { staking: contracts.staking, jobId: "1" })).toEqual({ minStake: 10n * TOKENS, cooldown: COOLDOWN, exists: true });
    expect(await getJobMinStake(operator.publicClient, { staking: contracts.staking, jobId: "404" })).toEqual({ minStake: 0n, cooldown: 0, exists: false });

    const denied = await failure(setJobMinStake(users[0].publicClient, users[0].walletClient!, { staking: contracts.staking, jobId: "1", amount: 0n }));
    expect(denied.code).toBe("REVERTED");
    expect(denied.data?.reason).toBe("OwnableUnauthorizedAccount");
    const negative = await failure(setJobMinStake(operator.publicClient, operator.walletClient!, { staking: contracts.staking, jobId: "1", amount: -1n }));
    expect(negative.code).toBe("BAD_AMOUNT");
  });

  it("finds the staking address of a deployment and refuses one made before staking", () => {
    expect(stakingAddress(contracts, 31337)).toBe(contracts.staking);
    expect(() => stakingAddress({ ...contracts, staking: undefined }, 31337)).toThrow(expect.objectContaining({ code: "NO_STAKING" }));
  });
});

describe("stake, history, unstake, withdraw", () => {
  it("refuses a zero amount, an unknown job and a stake larger than the balance, with decoded reasons", async () => {
    const u = users[0];
    expect((await failure(stakeForJob(u.publicClient, u.walletClient!, { staking: contracts.staking, jobId: "1", amount: 0n }))).code).toBe("BAD_AMOUNT");
    expect((await failure(stakeForJob(u.publicClient, u.walletClient!, { staking: contracts.staking, jobId: "404", amount: TOKENS }))).code).toBe("STAKING_JOB_UNKNOWN");
    expect((await failure(stakeForJob(u.publicClient, u.walletClient!, { staking: contracts.staking, jobId: "1", amount: 10_000n * TOKENS }))).code).toBe("INSUFFICIENT_TOKENS");
    // The contract itself refuses the same inputs (a client that skips dat's checks gets the reason).
    const direct = (fn: "stake", args: readonly [bigint, bigint]) =>
      u.publicClient.simulateContract({ address: contracts.staking, abi: Staking.abi, functionName: fn, args, account: u.walletClient!.account });
    expect((await failure(direct("stake", [1n, 0n]))).data?.reason).toBe("ZeroAmount");
    expect((await failure(direct("stake", [404n, TOKENS]))).data?.reason).toBe("UnknownJob");
    expect(await getStake(u.publicClient, { staking: contracts.staking, jobId: "1", account: addressOf(u) })).toEqual({ stake: 0n, pending: 0n, unlockAt: 0 });
  });

  it("keeps the stake history: stakeAt a past block, eligibility against the minimum at that block", async () => {
    const [a, b] = users;
    const staking = contracts.staking;
    const before = await blockNumber();
    const first = await stakeForJob(a.publicClient, a.walletClient!, { staking, jobId: "1", amount: 6n * TOKENS });
    expect(first.approveTxHash).not.toBeNull();
    const blockA1 = await blockNumber();
    await stakeForJob(a.publicClient, a.walletClient!, { staking, jobId: "1", amount: 6n * TOKENS });
    const blockA2 = await blockNumber();
    await stakeForJob(b.publicClient, b.walletClient!, { staking, jobId: "1", amount: 10n * TOKENS });
    const blockB = await blockNumber();
    const unstaked = await requestUnstake(a.publicClient, a.walletClient!, { staking, jobId: "1" });
    const blockUnstake = await blockNumber();

    expect(unstaked.amount).toBe(12n * TOKENS);
    const at = (account: Address, n: bigint) => stakeAt(operator.publicClient, { staking, jobId: "1", account, blockNumber: n });
    expect(await at(addressOf(a), before)).toBe(0n);
    expect(await at(addressOf(a), blockA1)).toBe(6n * TOKENS);
    expect(await at(addressOf(a), blockA2)).toBe(12n * TOKENS);
    expect(await at(addressOf(a), blockUnstake)).toBe(0n);
    expect(await at(addressOf(b), blockA2)).toBe(0n);
    expect(await at(addressOf(b), blockB)).toBe(10n * TOKENS);
    const future = await failure(at(addressOf(a), blockUnstake + 100n));
    expect(future.data?.reason).toBe("FutureLookup");

    const addresses = [addressOf(a), addressOf(b), addressOf(users[2])];
    const check = (n: bigint) => eligibleStakers(operator.publicClient, { staking, jobId: "1", addresses, blockNumber: n });
    expect((await check(blockA1)).eligible).toEqual([]);
    expect((await check(blockA2)).eligible).toEqual([addressOf(a)]);
    expect((await check(blockB)).eligible).toEqual([addressOf(a), addressOf(b)]);
    const afterUnstake = await check(blockUnstake);
    expect(afterUnstake.eligible).toEqual([addressOf(b)]);
    expect(afterUnstake.stakes.get(addressOf(a))).toBe(0n);
    expect(afterUnstake.minStake).toBe(10n * TOKENS);
    expect((await failure(eligibleStakers(operator.publicClient, { staking, jobId: "404", addresses, blockNumber: blockB }))).code).toBe("STAKING_JOB_UNKNOWN");
  });

  it("withdraws only after the cooldown, saying how long is left, and pays the stake back", async () => {
    const a = users[0];
    const staking = contracts.staking;
    const { pending, unlockAt } = await getStake(a.publicClient, { staking, jobId: "1", account: addressOf(a) });
    expect(pending).toBe(12n * TOKENS);

    const early = await failure(withdrawStake(a.publicClient, a.walletClient!, { staking, jobId: "1" }));
    expect(early.code).toBe("COOLDOWN_NOT_OVER");
    expect(early.data?.remainingSeconds).toBeGreaterThan(COOLDOWN - 120);
    expect(early.data?.unlockAt).toBe(unlockAt);
    expect(early.message).toMatch(/ends in (59 min|1 h)/);
    const direct = await failure(a.publicClient.simulateContract({
      address: staking, abi: Staking.abi, functionName: "withdraw", args: [1n], account: a.walletClient!.account,
    }));
    expect(direct.data?.reason).toBe("CooldownNotOver");
    expect((await failure(requestUnstake(a.publicClient, a.walletClient!, { staking, jobId: "1" }))).code).toBe("NOTHING_STAKED");

    await rpc("evm_increaseTime", [COOLDOWN]);
    await rpc("evm_mine");
    const balanceBefore = await a.publicClient.readContract({ address: contracts.token, abi: DatToken.abi, functionName: "balanceOf", args: [addressOf(a)] });
    const withdrawn = await withdrawStake(a.publicClient, a.walletClient!, { staking, jobId: "1" });
    expect(withdrawn.amount).toBe(12n * TOKENS);
    expect(await a.publicClient.readContract({ address: contracts.token, abi: DatToken.abi, functionName: "balanceOf", args: [addressOf(a)] }))
      .toBe(balanceBefore + 12n * TOKENS);
    expect((await failure(withdrawStake(a.publicClient, a.walletClient!, { staking, jobId: "1" }))).code).toBe("NOTHING_PENDING");
  });

  it("formats remaining durations", () => {
    expect(formatDuration(0)).toBe("0 s");
    expect(formatDuration(59)).toBe("59 s");
    expect(formatDuration(3_725)).toBe("1 h 2 min 5 s");
    expect(formatDuration(90_000)).toBe("1 d 1 h");
  });
});

describe("slashing in the publishing transaction", () => {
  it("slashes the listed cheaters once (one of them mid-unstake), leaves honest stakes alone, refills the pool", async () => {
    // Prepare: job 2; honest users[2], users[3]; cheaters users[4] (staked) and users[5] (unstake pending).
    const staking = contracts.staking;
    await setJobMinStake(operator.publicClient, operator.walletClient!, { staking, jobId: "2", amount: 5n * TOKENS, cooldown: COOLDOWN });
    const [, , h1, h2, c1, c2] = users;
    for (const u of [h1, h2, c1, c2]) await stakeForJob(u.publicClient, u.walletClient!, { staking, jobId: "2", amount: 7n * TOKENS });
    // An honest stake in another job of a cheater must survive too.
    await setJobMinStake(operator.publicClient, operator.walletClient!, { staking, jobId: "3", amount: TOKENS });
    await stakeForJob(c1.publicClient, c1.walletClient!, { staking, jobId: "3", amount: 3n * TOKENS });
    await requestUnstake(c2.publicClient, c2.walletClient!, { staking, jobId: "2" });
    const opened = await blockNumber();
    const poolBefore = await operator.publicClient.readContract({ address: contracts.distributor, abi: RewardDistributor.abi, functionName: "pool", args: [2n] });
    const db = openDatabase(home);
    const store = openLocalStore(home);

    // Execute: settle round 0 of job 2 paying the honest, slashing the cheaters (unsorted, one twice).
    const settled = await settleRound({
      db, store, publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: contracts.distributor,
      jobId: "2", round: 0, modelCid: "bafy-model-2-0", rewardTotal: 20n * TOKENS,
      scores: [{ address: addressOf(h1), score: 1 }, { address: addressOf(h2), score: 1 }],
      slashes: [addressOf(c2), addressOf(c1), addressOf(c2).toLowerCase() as Address],
    });

    // Assert
    expect(settled.slashed).toEqual(sortSlashes([addressOf(c1), addressOf(c2)]));
    const receipt = await operator.publicClient.getTransactionReceipt({ hash: settled.txHash! });
    expect(receipt.status).toBe("success");
    const stakeOf = (u: ChainConnection, jobId = "2") => getStake(operator.publicClient, { staking, jobId, account: addressOf(u) });
    expect(await stakeOf(h1)).toEqual({ stake: 7n * TOKENS, pending: 0n, unlockAt: 0 });
    expect(await stakeOf(h2)).toEqual({ stake: 7n * TOKENS, pending: 0n, unlockAt: 0 });
    expect((await stakeOf(c1)).stake).toBe(0n);
    expect(await stakeOf(c2)).toMatchObject({ stake: 0n, pending: 0n });
    expect((await stakeOf(c1, "3")).stake).toBe(3n * TOKENS);
    // The history before the publication still shows what the cheater had when the round opened.
    expect(await stakeAt(operator.publicClient, { staking, jobId: "2", account: addressOf(c1), blockNumber: opened })).toBe(7n * TOKENS);

    const slashes = await readSlashes(operator.publicClient, { staking, fromBlock: contracts.blockNumber, jobId: "2" });
    expect(slashes.map((s) => [s.account, s.amount, s.round, s.txHash])).toEqual(
      sortSlashes([addressOf(c1), addressOf(c2)]).map((a) => [a, 7n * TOKENS, 0, settled.txHash]),
    );
    const poolAfter = await operator.publicClient.readContract({ address: contracts.distributor, abi: RewardDistributor.abi, functionName: "pool", args: [2n] });
    expect(poolAfter).toBe(poolBefore + settled.funded - 20n * TOKENS + 14n * TOKENS);
    expect(await operator.publicClient.readContract({ address: contracts.token, abi: DatToken.abi, functionName: "balanceOf", args: [staking] }))
      .toBe(7n * TOKENS * 2n + 3n * TOKENS + 10n * TOKENS); // + users[1]'s stake in job 1

    // Honest rewards are claimable as usual.
    const report = await getRewards({ publicClient: h1.publicClient, distributor: contracts.distributor, fromBlock: contracts.blockNumber, store, address: addressOf(h1), jobId: "2" });
    expect(report.claimable).toBe(10n * TOKENS);

    // Once only: the cheater stakes again; publishing round 0 again cannot touch it.
    await stakeForJob(c1.publicClient, c1.walletClient!, { staking, jobId: "2", amount: 5n * TOKENS });
    const again = await failure(operator.publicClient.simulateContract({
      address: contracts.distributor, abi: RewardDistributor.abi, functionName: "publishRound", account: operator.walletClient!.account,
      args: [2n, 0n, "m", "0x" + "11".repeat(32) as Hex, 0n, "", [addressOf(c1)]],
    }));
    expect(again.data?.reason).toBe("RoundAlreadyPublished");
    expect((await stakeOf(c1)).stake).toBe(5n * TOKENS);
    // A slashed pending stake cannot be withdrawn.
    await rpc("evm_increaseTime", [COOLDOWN]);
    await rpc("evm_mine");
    expect((await failure(withdrawStake(c2.publicClient, c2.walletClient!, { staking, jobId: "2" }))).code).toBe("NOTHING_PENDING");
    db.close();
  });

  it("refuses unsorted or duplicated slash lists, callers other than the distributor, and bad addresses", async () => {
    const staking = contracts.staking;
    const [a, b] = sortSlashes([addressOf(users[2]), addressOf(users[3])]);
    // Staking's errors bubble up through the distributor: decode with both ABIs.
    const abi = [...RewardDistributor.abi, ...Staking.abi.filter((item) => item.type === "error")] as Abi;
    const publish = (round: bigint, slashed: Address[]) => operator.publicClient.simulateContract({
      address: contracts.distributor, abi, functionName: "publishRound", account: operator.walletClient!.account,
      args: [2n, round, "m", "0x" + "00".repeat(32) as Hex, 0n, "", slashed],
    });
    expect((await failure(publish(5n, [b, a]))).data?.reason).toBe("UnsortedSlashes");
    expect((await failure(publish(5n, [a, a]))).data?.reason).toBe("UnsortedSlashes");
    const direct = await failure(operator.publicClient.simulateContract({
      address: staking, abi: Staking.abi, functionName: "slash", args: [2n, 5n, [a]], account: operator.walletClient!.account,
    }));
    expect(direct.data?.reason).toBe("NotDistributor");
    const notPublisher = await failure(users[2].publicClient.simulateContract({
      address: contracts.distributor, abi: RewardDistributor.abi, functionName: "publishRound", account: users[2].walletClient!.account,
      args: [2n, 5n, "m", "0x" + "00".repeat(32) as Hex, 0n, "", [b]],
    }));
    expect(notPublisher.data?.reason).toBe("NotPublisher");
    expect(() => sortSlashes(["0x123"])).toThrow(expect.objectContaining({ code: "BAD_SLASH_ADDRESS" }));
    const db = openDatabase(home);
    const bad = await failure(settleRound({
      db, store: openLocalStore(home), publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: contracts.distributor,
      jobId: "2", round: 6, modelCid: "m", rewardTotal: 0n, scores: [], slashes: ["nope" as Address],
    }));
    db.close();
    expect(bad.code).toBe("BAD_SLASH_ADDRESS");
    // The honest stakes are where they were.
    for (const u of [users[2], users[3]]) {
      expect((await getStake(operator.publicClient, { staking, jobId: "2", account: getAddress(addressOf(u)) })).stake).toBe(7n * TOKENS);
    }
  });

  it("a publication slashing an address with no stake records it with amount 0 and moves nothing", async () => {
    const staking = contracts.staking;
    const nobody = "0x00000000000000000000000000000000000000aa" as Address;
    const db = openDatabase(home);
    const settled = await settleRound({
      db, store: openLocalStore(home), publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: contracts.distributor,
      jobId: "2", round: 1, modelCid: "bafy-model-2-1", rewardTotal: 0n, scores: [], slashes: [nobody],
    });
    db.close();
    const events = await readSlashes(operator.publicClient, { staking, fromBlock: contracts.blockNumber, jobId: "2", round: 1 });
    expect(events).toEqual([expect.objectContaining({ account: getAddress(nobody), amount: 0n, txHash: settled.txHash })]);
    await mined(operator.publicClient, settled.txHash!, "check");
  });
});
