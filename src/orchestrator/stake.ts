/**
 * Stakes at intake: a submission counts only from an address whose stake in the job met the job's
 * minimum when the round opened. Opening a staked job's round asks the chain for its latest block
 * and the job's minimum in that block (`stakeOpening`), recorded with the round (round_econ) before
 * any submission can arrive; every check of the round, after a restart too, judges the stake the
 * contract's history (Checkpoints) held at that block against that minimum. So:
 *   - stake added after the open does not count for that round (it counts from the next one);
 *   - a stake whose unstaking was requested after the open still counts for that round (it was
 *     there when the round opened, and stays slashable while pending: the job's cooldown must
 *     outlast a round plus its publication, see Staking.sol);
 *   - a minimum raised after the open applies from the next round; the job's own recorded
 *     minimum (`--min-stake`) is a floor that always applies.
 * A round opened without a chain to ask (or before this rule) gets its block at its first check.
 * The stakes of every registered node are read in ONE contract call per round (stakesAt), cached
 * here; an address that registered after that call costs one more call, once.
 *
 * Jobs without a minimum stake (no `--min-stake`) skip the check: they are for trusted groups.
 */
import type Database from "better-sqlite3";
import type { Address } from "viem";
import type { DatConfig } from "../config/schema.js";
import { DeniedError } from "../core/errors.js";
import { getJobEcon, getRoundEcon, setStakeBlock } from "../db/econ.js";
import { listNodes } from "../db/nodes.js";
import type { Hex } from "./types.js";

/** What the orchestrator asks the chain about stakes (a test passes the real chain actions). */
export interface StakeOracle {
  /** The chain's latest block number and the job's on-chain minimum stake in that block. */
  opening(jobId: number): Promise<{ block: bigint; minStake: bigint }>;
  /** Stakes of `addresses` in the job at (the end of) `block`. */
  stakesAt(jobId: number, addresses: readonly Hex[], block: bigint): Promise<{ stakes: Map<string, bigint> }>;
}

/** The facts a round records when it opens (see the module comment). */
export interface StakeOpening {
  block: bigint;
  minStake: bigint;
}

/**
 * Asks the chain for the block and minimum a staked job's new round is judged at; undefined for a
 * job without a minimum or without a chain (then intake refuses or skips, see `stakeFacts`).
 * Call it before the round row exists: the block is then at or before the open, so no stake made
 * after the open can be in it. Throws the chain's error (the round then does not open).
 */
export async function stakeOpening(db: Database.Database, oracle: StakeOracle | undefined, jobId: number): Promise<StakeOpening | undefined> {
  if (getJobEcon(db, jobId).minStake === null || !oracle) return undefined;
  return oracle.opening(jobId);
}

/** Records `stakeOpening`'s answer with the round (inside the transaction that opens it). */
export function recordStakeOpening(db: Database.Database, jobId: number, round: number, opening: StakeOpening | undefined): void {
  if (opening) setStakeBlock(db, jobId, round, Number(opening.block), opening.minStake.toString());
}

/** The facts `checkStake` (intake.ts) decides on: null `required` = the job needs no stake. */
export interface StakeFacts {
  required: bigint | null;
  held: bigint;
  block: number | null;
  /** Set when the job needs a stake and no chain is configured to check it. */
  unavailable?: boolean;
}

/** Per-round cache of stakes read at the round's block, keyed `job/round`. */
const caches = new WeakMap<StakeOracle, Map<string, { block: bigint; minStake: bigint; stakes: Map<string, bigint> }>>();

/**
 * Gathers the stake facts of one submission (see the module comment). Pure reads of the database
 * and, for a staked job, the chain (once per round).
 */
export async function stakeFacts(
  db: Database.Database,
  oracle: StakeOracle | undefined,
  jobId: number,
  round: number,
  address: Hex,
): Promise<StakeFacts> {
  const econ = getJobEcon(db, jobId);
  if (econ.minStake === null) return { required: null, held: 0n, block: null };
  if (!oracle) return { required: BigInt(econ.minStake), held: 0n, block: null, unavailable: true };
  let perRound = caches.get(oracle);
  if (!perRound) caches.set(oracle, (perRound = new Map()));
  const key = `${jobId}/${round}`;
  let entry = perRound.get(key);
  const who = address.toLowerCase();
  if (!entry || !entry.stakes.has(who)) {
    let recorded = getRoundEcon(db, jobId, round);
    if (recorded.stakeBlock === null || recorded.openMinStake === null) {
      // Opened without a chain (or by an older version): judged from the first check on.
      const now = await oracle.opening(jobId);
      const fixed = setStakeBlock(db, jobId, round, Number(now.block), now.minStake.toString());
      recorded = { ...recorded, ...fixed };
    }
    const block = BigInt(recorded.stakeBlock!);
    const addresses = entry ? [address] : [...new Set([...listNodes(db).map((n) => n.address.toLowerCase() as Hex), who as Hex])];
    const read = await oracle.stakesAt(jobId, addresses, block);
    entry ??= { block, minStake: BigInt(recorded.openMinStake!), stakes: new Map() };
    for (const [a, v] of read.stakes) entry.stakes.set(a.toLowerCase(), v);
    for (const a of addresses) if (!entry.stakes.has(a.toLowerCase())) entry.stakes.set(a.toLowerCase(), 0n);
    perRound.set(key, entry);
    // Rounds of the past are never checked again: keep the cache small.
    if (perRound.size > 64) perRound.delete(perRound.keys().next().value!);
  }
  // The stricter of the two minimums counts: the job's recorded one and the contract's at the open.
  const required = BigInt(econ.minStake) > entry.minStake ? BigInt(econ.minStake) : entry.minStake;
  return { required, held: entry.stakes.get(who) ?? 0n, block: Number(entry.block) };
}

/** The rejection of a submission whose stake was below the job's minimum (exit 5). */
export function stakeTooLow(address: Hex, jobId: number, facts: StakeFacts): DeniedError {
  if (facts.unavailable) {
    return new DeniedError(`Job ${jobId} needs a stake, and this orchestrator has no chain to check ${address}'s.`, {
      code: "STAKE_UNCHECKABLE",
      hint: "The operator configures a chain (dat devnet, or dat chain deploy) and restarts dat serve.",
      data: { jobId, address, required: facts.required!.toString() },
    });
  }
  return new DeniedError(
    `${address} had ${facts.held} base units staked in job ${jobId} at block ${facts.block}; the job requires ${facts.required}.`,
    {
      code: "STAKE_TOO_LOW",
      hint: `Stake, then take part from the next round: dat node stake --job ${jobId} --amount <DAT>`,
      data: { jobId, address, held: facts.held.toString(), required: facts.required!.toString(), block: facts.block },
    },
  );
}

/** The stake oracle over the configured chain's Staking contract (for `dat serve` and the CLI). */
export async function chainStakeOracle(config: DatConfig, options: { rpcUrl?: string } = {}): Promise<StakeOracle> {
  const { connectConfiguredChain } = await import("../chain/clients.js");
  const { stakingAddress } = await import("../chain/staking.js");
  const chain = await connectConfiguredChain(config, { rpcUrl: options.rpcUrl });
  const staking = stakingAddress(chain.deployment, chain.chainId);
  return publicClientStakeOracle(chain.publicClient, staking);
}

/** A StakeOracle over a viem public client and a Staking contract address. */
export function publicClientStakeOracle(publicClient: import("viem").PublicClient, staking: Address): StakeOracle {
  return {
    async opening(jobId) {
      const { jobRulesAt } = await import("../chain/staking.js");
      const { blockNumber, minStake } = await jobRulesAt(publicClient, { staking, jobId });
      return { block: blockNumber, minStake };
    },
    async stakesAt(jobId, addresses, block) {
      const { eligibleStakers } = await import("../chain/staking.js");
      const result = await eligibleStakers(publicClient, { staking, jobId, addresses: addresses as Address[], blockNumber: block });
      return { stakes: new Map([...result.stakes].map(([a, v]) => [a.toLowerCase(), v])) };
    },
  };
}

/**
 * The configured chain's stake oracle, connected on first use: a server or CLI that never sees a
 * job with a minimum stake never needs a chain. A failed connection is retried on the next call.
 */
export function lazyChainStakeOracle(config: DatConfig): StakeOracle {
  let oracle: Promise<StakeOracle> | undefined;
  const get = (): Promise<StakeOracle> => {
    oracle ??= chainStakeOracle(config).catch((error: unknown) => {
      oracle = undefined;
      throw error;
    });
    return oracle;
  };
  return {
    opening: async (jobId) => (await get()).opening(jobId),
    stakesAt: async (jobId, addresses, block) => (await get()).stakesAt(jobId, addresses, block),
  };
}
