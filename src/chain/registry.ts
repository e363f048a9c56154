/**
 * The on-chain node registry: contributors announce themselves (an orchestrator run with
 * `--onchain` accepts only registered nodes).
 */
import type { Address, Hex, PublicClient } from "viem";
import { NodeRegistry } from "./artifacts/index.js";
import { mined, toChainError, type ChainWallet } from "./clients.js";
import { UserError } from "../core/errors.js";

/** Register (or update) the wallet's node with a metadata CID; returns the mined tx hash. */
export async function registerNode(
  publicClient: PublicClient,
  walletClient: ChainWallet,
  registry: Address,
  metadataCid: string,
): Promise<Hex> {
  if (metadataCid.length === 0 || metadataCid.length > 512) {
    throw new UserError("The node metadata CID must be 1 to 512 characters.", { code: "BAD_METADATA_CID" });
  }
  return send(publicClient, "register the node", () =>
    publicClient.simulateContract({
      address: registry, abi: NodeRegistry.abi, functionName: "register", args: [metadataCid], account: walletClient.account,
    }).then(({ request }) => walletClient.writeContract(request)));
}

/** Remove the wallet's node from the registry; returns the mined tx hash. */
export async function unregisterNode(publicClient: PublicClient, walletClient: ChainWallet, registry: Address): Promise<Hex> {
  return send(publicClient, "unregister the node", () =>
    publicClient.simulateContract({
      address: registry, abi: NodeRegistry.abi, functionName: "unregister", account: walletClient.account,
    }).then(({ request }) => walletClient.writeContract(request)));
}

/** Whether `node` is registered on-chain. */
export async function isNodeRegistered(publicClient: PublicClient, registry: Address, node: Address): Promise<boolean> {
  try {
    return await publicClient.readContract({ address: registry, abi: NodeRegistry.abi, functionName: "isRegistered", args: [node] });
  } catch (error) {
    throw toChainError(error, "read the node registry");
  }
}

async function send(publicClient: PublicClient, what: string, write: () => Promise<Hex>): Promise<Hex> {
  let hash: Hex;
  try {
    hash = await write();
  } catch (error) {
    throw toChainError(error, what);
  }
  await mined(publicClient, hash, what, 60_000);
  return hash;
}
