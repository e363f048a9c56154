/**
 * Settlement of a closed round: split the reward by contribution score, store the reward tree,
 * publish (job, round, model CID, root, total, tree CID, slashed addresses) in one transaction. Idempotent and
 * retryable: the split is recorded before anything is sent, the chain is asked first whether it
 * already has the round, and nothing is marked published unless the chain says so.
 */
import type Database from "better-sqlite3";
import { getAddress, isAddress, type Address, type Hex, type PublicClient } from "viem";
import { RewardDistributor, DatToken } from "./artifacts/index.js";
import { chainJobId, mined, toChainError, type ChainWallet } from "./clients.js";
import { buildRewardTree, ZERO_ROOT } from "./tree.js";
import { splitRewards, type ContributionScore } from "../core/rewards/index.js";
import { OperationFailedError, UserError } from "../core/errors.js";
import { insertRoundEventOnce } from "../db/roundEvents.js";
import {
  getSettlement,
  insertPendingSettlement,
  markSettlementPublished,
  recordSettlementAttempt,
  type Settlement,
} from "../db/settlements.js";

/** The part of the BlobStore (src/store) settlement needs. */
export interface TreeBlobStore {
  put(bytes: Uint8Array): Promise<string>;
}

export interface SettleRoundOptions {
  db: Database.Database;
  store: TreeBlobStore;
  publicClient: PublicClient;
  walletClient: ChainWallet;
  distributor: Address;
  jobId: string | number;
  round: number;
  modelCid: string;
  rewardTotal: bigint;
  scores: ContributionScore[];
  /**
   * Addresses whose stake in the job the round's evidence says to slash (any order, duplicates
   * ignored); slashed in the publishing transaction. Not stored in the settlement row: a retry
   * (`publishSettlement`) must be given them again.
   */
  slashes?: readonly Address[];
}

export interface SettleRoundResult {
  /** The publishing transaction; null when the chain already had the round and we never learnt its hash. */
  txHash: Hex | null;
  rewardRoot: Hex;
  treeCid: string;
  total: bigint;
  amounts: { address: string; amount: bigint }[];
  /** True when no transaction was sent because the chain already had the round. */
  alreadyPublished: boolean;
  /** Tokens moved into the job's pool from the operator's balance before publishing (0 when none). */
  funded: bigint;
  /** The addresses slashed by the publishing transaction (sorted; empty when none or already published). */
  slashed: Address[];
}

/**
 * The slash list as the contract wants it: checksummed, strictly ascending, no duplicates.
 * Throws a UserError for anything that is not an address.
 */
export function sortSlashes(slashes: readonly string[]): Address[] {
  const unique = new Map<string, Address>();
  for (const value of slashes) {
    if (!isAddress(value, { strict: false })) {
      throw new UserError(`Cannot slash "${value}": not a 0x-prefixed 20-byte address.`, { code: "BAD_SLASH_ADDRESS" });
    }
    unique.set(value.toLowerCase(), getAddress(value));
  }
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, address]) => address);
}

/**
 * Settle one round (see the module comment). Throws OperationFailedError (with the tx hash when
 * there is one) or NetworkError when the chain part fails; the pending row then stays for
 * `dat round publish` to retry.
 */
export async function settleRound(options: SettleRoundOptions): Promise<SettleRoundResult> {
  const { db, round } = options;
  const jobId = String(options.jobId);
  if (!Number.isSafeInteger(round) || round < 0) {
    throw new UserError(`Round must be a non-negative integer, got ${round}.`, { code: "BAD_ROUND" });
  }
  // Malformed slash lists fail before anything is recorded or sent.
  sortSlashes(options.slashes ?? []);
  let settlement = getSettlement(db, jobId, round);
  if (!settlement) {
    const amounts = splitRewards(options.rewardTotal, options.scores);
    const spent = amounts.reduce((acc, a) => acc + a.amount, 0n);
    let rewardRoot = ZERO_ROOT;
    let treeCid = "";
    if (amounts.length > 0) {
      const tree = buildRewardTree(amounts);
      rewardRoot = tree.root;
      // The tree must be fetchable by contributors before the root that points to it is on-chain.
      treeCid = await options.store.put(tree.bytes);
    }
    settlement = insertPendingSettlement(db, {
      jobId, round, modelCid: options.modelCid, rewardTotal: spent, rewardRoot, treeCid, amounts,
    });
  }
  return publishSettlement({ ...options, settlement });
}

export interface PublishSettlementOptions {
  db: Database.Database;
  publicClient: PublicClient;
  walletClient: ChainWallet;
  distributor: Address;
  settlement: Settlement;
  /** Addresses to slash with the publication (see SettleRoundOptions.slashes). */
  slashes?: readonly Address[];
}

/**
 * Publish a recorded settlement (the retry path of `dat round publish`): asks the chain first,
 * tops up the job's pool from the operator's tokens when it is short, then sends one publish
 * transaction and marks the row published once its receipt is in.
 */
export async function publishSettlement(options: PublishSettlementOptions): Promise<SettleRoundResult> {
  const { db, publicClient, walletClient, distributor, settlement } = options;
  const { jobId, round } = settlement;
  const slashed = sortSlashes(options.slashes ?? []);
  const onchainJob = chainJobId(jobId);
  const chainId = walletClient.chain.id;
  const account = walletClient.account;
  const result = (txHash: Hex | null, alreadyPublished: boolean, funded = 0n): SettleRoundResult => ({
    txHash, rewardRoot: settlement.rewardRoot, treeCid: settlement.treeCid, total: settlement.rewardTotal,
    amounts: settlement.amounts, alreadyPublished, funded, slashed: alreadyPublished ? [] : slashed,
  });
  const fail = (error: unknown, what: string, txHash?: Hex) => {
    const err = toChainError(error, what, txHash);
    recordSettlementAttempt(db, jobId, round, { chainId, distributor, txHash: txHash ?? null, error: err.message });
    return err;
  };

  let onchain: readonly [Hex, Hex, bigint, bigint];
  try {
    onchain = await publicClient.readContract({
      address: distributor, abi: RewardDistributor.abi, functionName: "getRound", args: [onchainJob, BigInt(round)],
    });
  } catch (error) {
    throw fail(error, `read round ${round} of job ${jobId} from the chain`);
  }
  if (onchain[3] !== 0n) {
    if (onchain[0].toLowerCase() !== settlement.rewardRoot.toLowerCase() || onchain[2] !== settlement.rewardTotal) {
      const err = new OperationFailedError(
        `The chain already has round ${round} of job ${jobId} with a different result (root ${onchain[0]}, total ${onchain[2]}).`,
        { code: "ROUND_CONFLICT", hint: "Another publisher settled this round; inspect it with `dat round verify`.",
          data: { jobId, round, chainRoot: onchain[0], localRoot: settlement.rewardRoot } },
      );
      recordSettlementAttempt(db, jobId, round, { chainId, distributor, error: err.message });
      throw err;
    }
    markSettlementPublished(db, jobId, round, { chainId, distributor, txHash: settlement.txHash, blockNumber: Number(onchain[3]) });
    // A retry after a crash between the receipt and the event still tells the watchers, once; a
    // home that lost its record knows no transaction (getRound does not return it): txHash null.
    announcePublished(db, jobId, round, settlement.txHash);
    return result(settlement.txHash, true);
  }

  let funded = 0n;
  try {
    funded = await ensurePool(publicClient, walletClient, distributor, onchainJob, settlement.rewardTotal);
  } catch (error) {
    throw fail(error, `fund the reward pool of job ${jobId}`);
  }

  let txHash: Hex;
  try {
    const { request } = await publicClient.simulateContract({
      address: distributor, abi: RewardDistributor.abi, functionName: "publishRound", account,
      args: [onchainJob, BigInt(round), settlement.modelCid, settlement.rewardRoot, settlement.rewardTotal, settlement.treeCid, slashed],
    });
    txHash = await walletClient.writeContract(request);
  } catch (error) {
    throw fail(error, `publish round ${round} of job ${jobId}`);
  }
  // Remember the hash before waiting: if the wait fails the retry asks the chain, not us.
  recordSettlementAttempt(db, jobId, round, { chainId, distributor, txHash });
  let receipt;
  try {
    receipt = await publicClient.waitForTransactionReceipt({ hash: txHash, timeout: 60_000 });
  } catch (error) {
    throw fail(error, `confirm the publication of round ${round} of job ${jobId}`, txHash);
  }
  if (receipt.status !== "success") {
    throw fail(new Error(`transaction ${txHash} reverted`), `publish round ${round} of job ${jobId}`, txHash);
  }
  markSettlementPublished(db, jobId, round, { chainId, distributor, txHash, blockNumber: Number(receipt.blockNumber) });
  announcePublished(db, jobId, round, txHash);
  return result(txHash, false, funded);
}

/**
 * The `round.published` round event (src/orchestrator/events.ts), written here so that every path
 * that settles — `dat round start` and a retry by `dat round publish` — announces it, once per
 * round. Never throws: the chain already has the round, a lost event must not turn it into a failure.
 */
function announcePublished(db: Database.Database, jobId: string, round: number, txHash: Hex | null): void {
  try {
    insertRoundEventOnce(db, { jobId: Number(jobId), round, type: "round.published", data: { txHash }, at: Date.now() });
  } catch {
    // The event table is a view for watchers; the settlement row is the record.
  }
}

/**
 * Make sure the job's pool holds `total`: when short, move the shortfall from the publisher's own
 * token balance (approve + fund). Returns what was funded. Fails clearly when the publisher lacks it.
 */
async function ensurePool(
  publicClient: PublicClient,
  walletClient: ChainWallet,
  distributor: Address,
  jobId: bigint,
  total: bigint,
): Promise<bigint> {
  if (total === 0n) return 0n;
  const pool = await publicClient.readContract({ address: distributor, abi: RewardDistributor.abi, functionName: "pool", args: [jobId] });
  if (pool >= total) return 0n;
  const shortfall = total - pool;
  const token = await publicClient.readContract({ address: distributor, abi: RewardDistributor.abi, functionName: "token" });
  const account = walletClient.account;
  const balance = await publicClient.readContract({ address: token, abi: DatToken.abi, functionName: "balanceOf", args: [account.address] });
  if (balance < shortfall) {
    throw new OperationFailedError(
      `The reward pool of job ${jobId} holds ${pool} and the operator ${balance} tokens; the round needs ${total}.`,
      { code: "INSUFFICIENT_POOL", hint: "Send DAT tokens to the operator's address (or mint them), then run `dat round publish`.",
        data: { pool: pool.toString(), balance: balance.toString(), required: total.toString() } },
    );
  }
  const allowance = await publicClient.readContract({
    address: token, abi: DatToken.abi, functionName: "allowance", args: [account.address, distributor],
  });
  if (allowance < shortfall) {
    const hash = await walletClient.writeContract({
      address: token, abi: DatToken.abi, functionName: "approve", args: [distributor, shortfall], account, chain: walletClient.chain,
    });
    await mined(publicClient, hash, "approve the reward pool top-up", 60_000);
  }
  const { request } = await publicClient.simulateContract({
    address: distributor, abi: RewardDistributor.abi, functionName: "fund", args: [jobId, shortfall], account,
  });
  await mined(publicClient, await walletClient.writeContract(request), `fund the reward pool of job ${jobId}`, 60_000);
  return shortfall;
}
