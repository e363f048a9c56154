/**
 * What an address earned, read from the chain (published rounds, claim bitmap, token balance) and
 * the reward trees in the blob store; and claiming everything claimable in as few transactions
 * as possible.
 */
import type { Address, Hex, PublicClient } from "viem";
import { RewardDistributor, DatToken } from "./artifacts/index.js";
import { chainJobId, toChainError, UNKNOWN_REASON, type ChainWallet } from "./clients.js";
import { loadRewardTree } from "./tree.js";
import { isDatError, NetworkError, OperationFailedError, UserError } from "../core/errors.js";

/** The part of the BlobStore (src/store) reading rewards needs. */
export interface TreeReadStore {
  get(cid: string): Promise<Uint8Array>;
}

export interface PublishedRound {
  jobId: string;
  round: number;
  rewardRoot: Hex;
  total: bigint;
  modelCid: string;
  treeCid: string;
  blockNumber: number;
  txHash: Hex;
}

export interface RewardEntry {
  jobId: string;
  round: number;
  /** The leaf's index in the round's tree (the claim bitmap's key). */
  index: number;
  amount: bigint;
  claimed: boolean;
  proof: Hex[];
  treeCid: string;
  modelCid: string;
}

export interface RewardsReport {
  address: Address;
  token: Address;
  balance: bigint;
  entries: RewardEntry[];
  /** Rounds whose tree could not be read from the store (the address may have earned in them). */
  unavailable: { jobId: string; round: number; treeCid: string; reason: string }[];
  earned: bigint;
  claimed: bigint;
  claimable: bigint;
}

export interface ReadPublishedRoundsOptions {
  publicClient: PublicClient;
  distributor: Address;
  /** First block to scan (the deployment's block). */
  fromBlock: number;
  /** Last block to scan (default: the latest block when the scan starts). */
  toBlock?: number;
  jobId?: string | number;
  /**
   * Blocks per eth_getLogs request (default 10 000): public RPCs refuse long ranges, so the scan
   * walks [fromBlock, toBlock] in windows of this many blocks.
   */
  blockRange?: number;
}

/** Default blocks per eth_getLogs request; most public RPCs accept 10 000. */
export const DEFAULT_LOG_BLOCK_RANGE = 10_000;

/** Split [from, to] into consecutive inclusive windows of at most `size` blocks. */
export function blockWindows(from: bigint, to: bigint, size: bigint): { fromBlock: bigint; toBlock: bigint }[] {
  if (size < 1n) throw new RangeError(`block range must be at least 1, got ${size}`);
  const windows: { fromBlock: bigint; toBlock: bigint }[] = [];
  for (let start = from; start <= to; start += size) {
    const end = start + size - 1n;
    windows.push({ fromBlock: start, toBlock: end < to ? end : to });
  }
  return windows;
}

/**
 * Every round published on the distributor (of one job when given), from its RoundPublished
 * events, in block order; read in bounded block windows (see `blockRange`).
 */
export async function readPublishedRounds(options: ReadPublishedRoundsOptions): Promise<PublishedRound[]> {
  const { publicClient, distributor } = options;
  const range = options.blockRange ?? DEFAULT_LOG_BLOCK_RANGE;
  if (!Number.isSafeInteger(range) || range < 1) {
    throw new UserError(`The log block range must be a positive integer, got ${range}.`, { code: "BAD_BLOCK_RANGE" });
  }
  try {
    // Pin the end once so every window reads the same chain head, however long the scan takes;
    // uncached, or a round published a moment ago would be missed.
    const toBlock = options.toBlock === undefined ? await publicClient.getBlockNumber({ cacheTime: 0 }) : BigInt(options.toBlock);
    const rounds: PublishedRound[] = [];
    for (const window of blockWindows(BigInt(options.fromBlock), toBlock, BigInt(range))) {
      const logs = await publicClient.getContractEvents({
        address: distributor,
        abi: RewardDistributor.abi,
        eventName: "RoundPublished",
        args: options.jobId === undefined ? undefined : { jobId: chainJobId(options.jobId) },
        fromBlock: window.fromBlock,
        toBlock: window.toBlock,
        strict: true,
      });
      rounds.push(...logs.map((log) => ({
        jobId: log.args.jobId.toString(),
        round: Number(log.args.round),
        rewardRoot: log.args.rewardRoot,
        total: log.args.total,
        modelCid: log.args.globalModelCid,
        treeCid: log.args.treeCid,
        blockNumber: Number(log.blockNumber),
        txHash: log.transactionHash,
      })));
    }
    return rounds;
  } catch (error) {
    throw toChainError(error, "read the published rounds");
  }
}

export interface GetRewardsOptions extends ReadPublishedRoundsOptions {
  store: TreeReadStore;
  address: Address;
}

/** What `address` earned per job and round, what it claimed, what is claimable, and its balance. */
export async function getRewards(options: GetRewardsOptions): Promise<RewardsReport> {
  const { publicClient, distributor, address } = options;
  const rounds = await readPublishedRounds(options);
  const entries: RewardEntry[] = [];
  const unavailable: RewardsReport["unavailable"] = [];
  try {
    for (const r of rounds) {
      if (r.treeCid === "") continue;
      let bytes: Uint8Array;
      try {
        bytes = await options.store.get(r.treeCid);
      } catch (error) {
        unavailable.push({ jobId: r.jobId, round: r.round, treeCid: r.treeCid, reason: (error as Error).message });
        continue;
      }
      let leaf;
      try {
        leaf = loadRewardTree(bytes, r.rewardRoot).find(address);
      } catch (error) {
        if (!isDatError(error)) throw error;
        unavailable.push({ jobId: r.jobId, round: r.round, treeCid: r.treeCid, reason: error.message });
        continue;
      }
      if (!leaf) continue;
      const claimed = await publicClient.readContract({
        address: distributor, abi: RewardDistributor.abi, functionName: "isClaimed",
        args: [BigInt(r.jobId), BigInt(r.round), BigInt(leaf.index)],
      });
      entries.push({ jobId: r.jobId, round: r.round, index: leaf.index, amount: leaf.amount, claimed, proof: leaf.proof, treeCid: r.treeCid, modelCid: r.modelCid });
    }
    const token = await publicClient.readContract({ address: distributor, abi: RewardDistributor.abi, functionName: "token" });
    const balance = await publicClient.readContract({ address: token, abi: DatToken.abi, functionName: "balanceOf", args: [address] });
    const sum = (list: RewardEntry[]) => list.reduce((acc, e) => acc + e.amount, 0n);
    return {
      address, token, balance, entries, unavailable,
      earned: sum(entries),
      claimed: sum(entries.filter((e) => e.claimed)),
      claimable: sum(entries.filter((e) => !e.claimed)),
    };
  } catch (error) {
    throw toChainError(error, "read rewards");
  }
}

export interface ClaimRewardsOptions extends Omit<GetRewardsOptions, "address"> {
  walletClient: ChainWallet;
  /** Claims per transaction (bounded so one transaction stays well under a block's gas). */
  batchSize?: number;
}

export interface ClaimRewardsResult {
  address: Address;
  claimed: { jobId: string; round: number; amount: bigint }[];
  total: bigint;
  txHashes: Hex[];
  balance: bigint;
}

/**
 * Claim every unclaimed reward of the wallet's address (of one job when given): one `claim`
 * for a single round, else `claimMany` batches. Each transaction is simulated first so a revert
 * is reported with its decoded reason before any gas is spent.
 */
export async function claimRewards(options: ClaimRewardsOptions): Promise<ClaimRewardsResult> {
  const { publicClient, walletClient, distributor } = options;
  const address = walletClient.account.address;
  const report = await getRewards({ ...options, address });
  const pending = report.entries.filter((e) => !e.claimed);
  const batchSize = options.batchSize ?? 100;
  const txHashes: Hex[] = [];
  const claimed: ClaimRewardsResult["claimed"] = [];
  for (let i = 0; i < pending.length; i += batchSize) {
    const batch = pending.slice(i, i + batchSize);
    const hash = await sendClaims(publicClient, walletClient, distributor, batch);
    txHashes.push(hash);
    claimed.push(...batch.map((e) => ({ jobId: e.jobId, round: e.round, amount: e.amount })));
  }
  const balance = txHashes.length === 0
    ? report.balance
    : await publicClient.readContract({ address: report.token, abi: DatToken.abi, functionName: "balanceOf", args: [address] });
  return { address, claimed, total: claimed.reduce((acc, c) => acc + c.amount, 0n), txHashes, balance };
}

export interface ClaimInput {
  jobId: string;
  round: number;
  index: number;
  amount: bigint;
  proof: Hex[];
}

/** Send one claim transaction for `claims` (claim for one, claimMany for several); returns its hash once mined. */
export async function sendClaims(
  publicClient: PublicClient,
  walletClient: ChainWallet,
  distributor: Address,
  claims: readonly ClaimInput[],
): Promise<Hex> {
  const account = walletClient.account;
  const what = claims.length === 1 ? `claim round ${claims[0].round} of job ${claims[0].jobId}` : `claim ${claims.length} rounds`;
  const simulateClaim = (c: ClaimInput, blockTag?: "pending") => publicClient.simulateContract({
    address: distributor, abi: RewardDistributor.abi, functionName: "claim", account, blockTag,
    args: [BigInt(c.jobId), BigInt(c.round), BigInt(c.index), c.amount, c.proof],
  });
  const simulateMany = (blockTag?: "pending") => publicClient.simulateContract({
    address: distributor, abi: RewardDistributor.abi, functionName: "claimMany", account, blockTag,
    args: [claims.map((c) => ({ jobId: BigInt(c.jobId), round: BigInt(c.round), index: BigInt(c.index), amount: c.amount, proof: c.proof }))],
  });
  let hash: Hex;
  try {
    hash = claims.length === 1
      ? await walletClient.writeContract((await simulateClaim(claims[0])).request)
      : await walletClient.writeContract((await simulateMany()).request);
  } catch (error) {
    const failure = toChainError(error, what);
    if (failure.code !== "REVERTED" || failure.data?.reason !== UNKNOWN_REASON) throw failure;
    // Gas estimation runs against pending transactions (another claim of the same leaf, say) and
    // some nodes return its revert without data: replaying the call there recovers the reason.
    const replay: Promise<unknown> = claims.length === 1 ? simulateClaim(claims[0], "pending") : simulateMany("pending");
    throw await replay.then(() => failure, (replayed: unknown) => {
      const decoded = toChainError(replayed, what);
      return decoded.code === "REVERTED" ? decoded : failure;
    });
  }
  let receipt;
  try {
    receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 60_000 });
  } catch (error) {
    throw new NetworkError(`Sent the transaction to ${what} (${hash}) but could not confirm it.`, {
      code: "TX_UNCONFIRMED", hint: "Check it later with `dat rewards`; claiming again cannot pay twice.", data: { txHash: hash }, cause: error,
    });
  }
  if (receipt.status !== "success") {
    const reverted = new OperationFailedError(`The transaction to ${what} reverted (${hash}).`, { code: "TX_REVERTED", data: { txHash: hash } });
    // A receipt carries no reason; replaying the call on the state it met usually names it.
    const replay: Promise<unknown> = claims.length === 1 ? simulateClaim(claims[0]) : simulateMany();
    throw await replay.then(() => reverted, (replayed: unknown) => {
      const decoded = toChainError(replayed, what, hash);
      return decoded.code === "REVERTED" && decoded.data?.reason !== UNKNOWN_REASON ? decoded : reverted;
    });
  }
  return hash;
}
