import { describe, expect, it } from "vitest";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { buildRewardTree, loadRewardTree } from "../../src/chain/tree.js";
import { MalformedInputError } from "../../src/core/errors.js";

const A = "0x" + "a".repeat(40);
const B = "0x" + "b".repeat(40);
const shares = [{ address: A, amount: 5n }, { address: B, amount: 7n }];

describe("reward trees", () => {
  it("round-trips and gives proofs the standard tree verifies", () => {
    const tree = buildRewardTree(shares);
    const loaded = loadRewardTree(tree.bytes, tree.root);
    const leaf = loaded.find(B.toUpperCase().replace("0X", "0x"))!;
    expect(leaf.amount).toBe(7n);
    expect(StandardMerkleTree.verify(tree.root, ["uint256", "address", "uint256"], [leaf.index, B, 7n], leaf.proof)).toBe(true);
    expect(loaded.find("0x" + "c".repeat(40))).toBeUndefined();
  });

  it("refuses malformed, tampered or foreign tree blobs", () => {
    const tree = buildRewardTree(shares);
    const text = new TextDecoder().decode(tree.bytes);
    const bytes = (s: string) => new TextEncoder().encode(s);
    const codeOf = (b: Uint8Array, root = tree.root) => {
      try {
        loadRewardTree(b, root);
        return "loaded";
      } catch (error) {
        expect(error).toBeInstanceOf(MalformedInputError);
        return (error as MalformedInputError).code;
      }
    };
    expect(codeOf(bytes("not json"))).toBe("BAD_REWARD_TREE");
    expect(codeOf(bytes("{}"))).toBe("BAD_REWARD_TREE");
    expect(codeOf(bytes(text.replace('"5"', '"500"')))).toBe("BAD_REWARD_TREE");
    const other = buildRewardTree([{ address: A, amount: 6n }]);
    expect(codeOf(other.bytes)).toBe("REWARD_TREE_MISMATCH");
    const twoField = StandardMerkleTree.of([[A, "5"]], ["address", "uint256"]);
    expect(codeOf(bytes(JSON.stringify(twoField.dump())), twoField.root as `0x${string}`)).toBe("BAD_REWARD_TREE");
  });
});
