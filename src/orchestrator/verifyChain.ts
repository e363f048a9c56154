/**
 * `dat round verify`'s chain part: the round's on-chain record (RewardDistributor.getRound and its
 * RoundPublished event) against what the store holds (model, reward tree) and what the operator's
 * database says was settled (reward root, total, tree CID). Read-only; no account needed.
 */
import type Database from "better-sqlite3";
import type { Address, Hex, PublicClient } from "viem";
import type { OnchainRound } from "../chain/rounds.js";
import type { Settlement } from "../db/settlements.js";

export interface VerifyCheck {
  what: string;
  ok: boolean;
  /** What was compared, or why the check could not run. */
  detail: string;
}

export interface ChainVerification {
  /** "checked": compared; "pending": not settled on chain yet (nothing to compare); "skipped": no chain configured. */
  status: "checked" | "pending" | "skipped";
  note?: string;
  checks: VerifyCheck[];
}

export interface CompareInput {
  /** The round's published model CID according to the orchestrator (and the store). */
  modelCid: string | null;
  onchain: OnchainRound;
  /** The operator's settlement row, when this home is the operator's. */
  settlement?: Settlement;
  /** The reward tree blob fetched by the on-chain tree CID, or why it could not be. */
  tree?: { entries: { amount: bigint }[] } | { error: string };
  cidsHashOf(modelCid: string, treeCid: string): Hex;
  /** Slashed events of the round on chain, and the slash list the database fixed at close. */
  slashes?: { onchain: string[]; db?: string[] } | { error: string };
}

/** Pure comparison of the on-chain record with the store and the database. */
export function compareChainRound(input: CompareInput): ChainVerification {
  const { onchain, settlement, modelCid } = input;
  if (!onchain.published) {
    if (settlement?.status === "published") {
      return {
        status: "checked",
        checks: [{ what: "on-chain record", ok: false, detail: `the database says settled in tx ${settlement.txHash ?? "?"}, the chain has no record` }],
      };
    }
    return { status: "pending", note: "the round is not settled on chain yet (dat round publish)", checks: [] };
  }
  const checks: VerifyCheck[] = [];
  const treeCid = onchain.treeCid ?? settlement?.treeCid;
  if (modelCid === null) {
    checks.push({ what: "model CID", ok: false, detail: "published on chain, but the orchestrator has no published model for the round" });
  } else if (onchain.modelCid !== undefined) {
    checks.push({ what: "model CID", ok: onchain.modelCid === modelCid, detail: `chain ${onchain.modelCid}, store ${modelCid}` });
  } else if (treeCid !== undefined) {
    // The event is out of reach: the stored commitment still binds the pair of CIDs.
    const ok = input.cidsHashOf(modelCid, treeCid).toLowerCase() === onchain.cidsHash.toLowerCase();
    checks.push({ what: "model CID", ok, detail: `chain commitment ${onchain.cidsHash} ${ok ? "matches" : "does not match"} ${modelCid}` });
  } else {
    checks.push({ what: "model CID", ok: false, detail: "the RoundPublished event is out of reach and no settlement row names the tree" });
  }
  if (settlement) {
    checks.push({ what: "reward root (db)", ok: settlement.rewardRoot.toLowerCase() === onchain.rewardRoot.toLowerCase(), detail: `chain ${onchain.rewardRoot}, db ${settlement.rewardRoot}` });
    checks.push({ what: "reward total (db)", ok: settlement.rewardTotal === onchain.total, detail: `chain ${onchain.total}, db ${settlement.rewardTotal}` });
    if (onchain.treeCid !== undefined) checks.push({ what: "tree CID (db)", ok: settlement.treeCid === onchain.treeCid, detail: `chain ${onchain.treeCid}, db ${settlement.treeCid}` });
    checks.push({ what: "model CID (db)", ok: modelCid === settlement.modelCid, detail: `db ${settlement.modelCid}, store ${modelCid ?? "none"}` });
  }
  if (input.tree) {
    if ("error" in input.tree) {
      checks.push({ what: "reward tree (store)", ok: false, detail: input.tree.error });
    } else {
      const sum = input.tree.entries.reduce((acc, e) => acc + e.amount, 0n);
      checks.push({ what: "reward tree (store)", ok: sum === onchain.total, detail: `hashes to the chain's root; leaves sum to ${sum}, chain total ${onchain.total}` });
    }
  } else if (onchain.total !== 0n) {
    checks.push({ what: "reward tree (store)", ok: false, detail: "a reward was published but no tree CID is known" });
  }
  if (input.slashes && "error" in input.slashes) {
    checks.push({ what: "slashes", ok: false, detail: input.slashes.error });
  } else if (input.slashes) {
    const chain = [...new Set(input.slashes.onchain.map((a) => a.toLowerCase()))].sort();
    const listed = input.slashes.db ? [...new Set(input.slashes.db.map((a) => a.toLowerCase()))].sort() : undefined;
    checks.push({
      what: "slashes",
      ok: listed === undefined || chain.join(",") === listed.join(","),
      detail: `chain slashed ${chain.length ? chain.join(", ") : "nobody"}` + (listed ? `; db evidence lists ${listed.length ? listed.join(", ") : "nobody"}` : ""),
    });
  }
  return { status: "checked", checks };
}

export interface VerifyChainOptions {
  publicClient: PublicClient;
  distributor: Address;
  fromBlock: number;
  jobId: number;
  round: number;
  modelCid: string | null;
  /** Fetches a blob by CID (the orchestrator's store). */
  getBlob(cid: string): Promise<Uint8Array>;
  /** The operator's database, for the settlement row. */
  db?: Database.Database;
  /** The Staking contract, to read the round's Slashed events (deployments made before staking have none). */
  staking?: Address;
}

/** Reads the round on chain, fetches its reward tree, and compares (see compareChainRound). */
export async function verifyRoundOnChain(options: VerifyChainOptions): Promise<ChainVerification> {
  const [{ readOnchainRound, cidsHashOf }, { loadRewardTree, ZERO_ROOT }, { getSettlement }] = await Promise.all([
    import("../chain/rounds.js"), import("../chain/tree.js"), import("../db/settlements.js"),
  ]);
  const onchain = await readOnchainRound(options.publicClient, options.distributor, {
    jobId: options.jobId, round: options.round, fromBlock: options.fromBlock,
  });
  const settlement = options.db ? getSettlement(options.db, String(options.jobId), options.round) : undefined;
  const treeCid = onchain.treeCid ?? settlement?.treeCid;
  let tree: CompareInput["tree"];
  if (onchain.published && treeCid && onchain.rewardRoot.toLowerCase() !== ZERO_ROOT) {
    try {
      tree = loadRewardTree(await options.getBlob(treeCid), onchain.rewardRoot);
    } catch (error) {
      tree = { error: `tree ${treeCid}: ${(error as Error).message}` };
    }
  }
  let slashes: CompareInput["slashes"];
  if (options.staking && onchain.published) {
    try {
      const { readSlashes } = await import("../chain/staking.js");
      const events = await readSlashes(options.publicClient, { staking: options.staking, fromBlock: options.fromBlock, jobId: options.jobId, round: options.round });
      const { getRoundEcon } = await import("../db/econ.js");
      slashes = { onchain: events.map((e) => e.account), ...(options.db ? { db: getRoundEcon(options.db, options.jobId, options.round).slashes } : {}) };
    } catch (error) {
      slashes = { error: (error as Error).message };
    }
  }
  return compareChainRound({ modelCid: options.modelCid, onchain, settlement, tree, cidsHashOf, ...(slashes ? { slashes } : {}) });
}
