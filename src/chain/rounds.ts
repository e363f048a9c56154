/**
 * Reading one published round back from the distributor, for `dat round verify` and anyone who
 * wants to check what the orchestrator published against the blob store.
 */
import { encodeAbiParameters, keccak256, type Address, type Hex, type PublicClient } from "viem";
import { RewardDistributor } from "./artifacts/index.js";
import { chainJobId, toChainError } from "./clients.js";
import { readPublishedRounds } from "./rewards.js";

export interface OnchainRound {
  published: boolean;
  rewardRoot: Hex;
  /** keccak256(abi.encode(globalModelCid, treeCid)), as the contract stores it. */
  cidsHash: Hex;
  total: bigint;
  blockNumber: number;
  /** From the RoundPublished event (undefined when not published or the log is out of reach). */
  modelCid?: string;
  treeCid?: string;
  txHash?: Hex;
}

/** The commitment the distributor stores for a round's two CIDs. */
export function cidsHashOf(modelCid: string, treeCid: string): Hex {
  return keccak256(encodeAbiParameters([{ type: "string" }, { type: "string" }], [modelCid, treeCid]));
}

/** Read a round's on-chain record (storage, then its event for the CIDs). */
export async function readOnchainRound(
  publicClient: PublicClient,
  distributor: Address,
  options: { jobId: string | number; round: number; fromBlock: number; blockRange?: number },
): Promise<OnchainRound> {
  let stored: readonly [Hex, Hex, bigint, bigint];
  try {
    stored = await publicClient.readContract({
      address: distributor, abi: RewardDistributor.abi, functionName: "getRound",
      args: [chainJobId(options.jobId), BigInt(options.round)],
    });
  } catch (error) {
    throw toChainError(error, `read round ${options.round} of job ${options.jobId}`);
  }
  const [rewardRoot, cidsHash, total, block] = stored;
  const round: OnchainRound = { published: block !== 0n, rewardRoot, cidsHash, total, blockNumber: Number(block) };
  if (!round.published) return round;
  const events = await readPublishedRounds({
    publicClient, distributor, fromBlock: round.blockNumber, toBlock: round.blockNumber, jobId: options.jobId, blockRange: options.blockRange,
  });
  const event = events.find((e) => e.round === options.round && e.blockNumber === round.blockNumber);
  if (event && cidsHashOf(event.modelCid, event.treeCid) === cidsHash) {
    Object.assign(round, { modelCid: event.modelCid, treeCid: event.treeCid, txHash: event.txHash });
  }
  return round;
}
