/**
 * Names of dat's contract functions by 4-byte selector, for logs that show what a transaction did.
 */
import { toFunctionSelector, type Abi, type AbiFunction, type Hex } from "viem";
import { DatToken, NodeRegistry, RewardDistributor, Staking } from "./artifacts/index.js";

let names: Map<string, string> | undefined;

/** "Contract.function" for a selector of one of dat's contracts, or undefined. */
export function contractMethodName(selector: Hex | undefined): string | undefined {
  if (!selector) return undefined;
  if (!names) {
    names = new Map();
    for (const { contractName, abi } of [DatToken, NodeRegistry, RewardDistributor, Staking]) {
      for (const item of abi as Abi) {
        if (item.type !== "function") continue;
        const selectorOf = toFunctionSelector(item as AbiFunction);
        // ERC-20 functions appear in one contract only; the first name wins for shared selectors.
        if (!names.has(selectorOf)) names.set(selectorOf, `${contractName}.${item.name}`);
      }
    }
  }
  return names.get(selector.toLowerCase());
}
