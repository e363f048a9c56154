/**
 * The reward Merkle tree of a round: @openzeppelin/merkle-tree's StandardMerkleTree over
 * (uint256 index, address account, uint256 amount) leaves, index = position in the address-sorted
 * split (the distributor's claim bitmap is keyed by it), stored as its JSON dump in the blob store.
 */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Hex } from "viem";
import { MalformedInputError } from "../core/errors.js";
import type { RewardShare } from "../core/rewards/index.js";

export const ZERO_ROOT = `0x${"0".repeat(64)}` as Hex;
export const LEAF_ENCODING = ["uint256", "address", "uint256"];

export interface RewardTree {
  root: Hex;
  /** JSON dump, the bytes stored in the blob store. */
  bytes: Uint8Array;
}

/** Build the tree of a round's shares (must be non-empty). */
export function buildRewardTree(shares: readonly RewardShare[]): RewardTree {
  const tree = StandardMerkleTree.of(
    shares.map((s, index) => [index.toString(), s.address, s.amount.toString()]),
    LEAF_ENCODING,
  );
  return { root: tree.root as Hex, bytes: new TextEncoder().encode(JSON.stringify(tree.dump())) };
}

export interface LoadedRewardTree {
  root: Hex;
  /** The leaf of an address (lower-case comparison) with its proof, or undefined. */
  find(address: string): { index: number; amount: bigint; proof: Hex[] } | undefined;
  entries: { index: number; address: string; amount: bigint }[];
}

/**
 * Parse a stored tree and check that it hashes to `expectedRoot` (the one on-chain), so a
 * corrupted or substituted blob is refused rather than producing proofs that revert.
 */
export function loadRewardTree(bytes: Uint8Array, expectedRoot: Hex): LoadedRewardTree {
  let tree: StandardMerkleTree<[string, string, string]>;
  try {
    const data = JSON.parse(new TextDecoder().decode(bytes));
    if (JSON.stringify(data?.leafEncoding) !== JSON.stringify(LEAF_ENCODING)) {
      throw new Error(`leaf encoding ${JSON.stringify(data?.leafEncoding)}, expected ${JSON.stringify(LEAF_ENCODING)}`);
    }
    tree = StandardMerkleTree.load<[string, string, string]>(data);
    tree.validate();
  } catch (error) {
    throw new MalformedInputError(`The stored reward tree is not a valid Merkle tree dump: ${(error as Error).message}`, {
      code: "BAD_REWARD_TREE",
      cause: error,
    });
  }
  if (tree.root.toLowerCase() !== expectedRoot.toLowerCase()) {
    throw new MalformedInputError(`The stored reward tree has root ${tree.root}, but the chain published ${expectedRoot}.`, {
      code: "REWARD_TREE_MISMATCH",
    });
  }
  const entries: { index: number; address: string; amount: bigint; position: number }[] = [];
  for (const [position, [index, address, amount]] of tree.entries()) {
    entries.push({ index: Number(index), address: String(address).toLowerCase(), amount: BigInt(amount), position });
  }
  return {
    root: tree.root as Hex,
    entries: entries.map(({ index, address, amount }) => ({ index, address, amount })),
    find(address) {
      const entry = entries.find((e) => e.address === address.toLowerCase());
      return entry ? { index: entry.index, amount: entry.amount, proof: tree.getProof(entry.position) as Hex[] } : undefined;
    },
  };
}
