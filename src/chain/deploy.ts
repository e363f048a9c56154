/**
 * Deploy dat's four contracts (token, node registry, reward distributor, staking) with one wallet.
 */
import { getAddress, getContractAddress, type Account, type Address, type Chain, type PublicClient, type Transport, type WalletClient } from "viem";
import { DatToken, NodeRegistry, RewardDistributor, Staking } from "./artifacts/index.js";
import { mined } from "./clients.js";
import { updateConfig } from "../config/index.js";

// Tests and benchmarks import the receipt helper from here.
export { mined };

export interface DeployContractsOptions {
  /** Final owner of the token and the distributor, and the distributor's publisher. Defaults to the deployer. */
  owner?: Address;
  /** Tokens to mint while the deployer still owns the token (e.g. to fund the operator). */
  mint?: { to: Address; amount: bigint }[];
  /** Unstaking cooldown (seconds) of jobs that set none (default one day). */
  defaultCooldown?: number;
}

/** Default unstaking cooldown: a day outlasts any round dat's defaults open. */
export const DEFAULT_UNSTAKE_COOLDOWN = 86_400;

export interface DeployedContracts {
  token: Address;
  registry: Address;
  distributor: Address;
  staking: Address;
  /** Block of the first deployment: where log scans start. */
  blockNumber: number;
}

type Wallet = WalletClient<Transport, Chain | undefined, Account>;

/**
 * Deploy DatToken, NodeRegistry and RewardDistributor (owned, with the publisher role, by `owner`),
 * mint what `mint` asks, then hand the token's ownership to `owner`. Waits for every receipt.
 */
export async function deployContracts(
  walletClient: Wallet,
  publicClient: PublicClient,
  options: DeployContractsOptions = {},
): Promise<DeployedContracts> {
  const deployer = walletClient.account.address;
  const owner = options.owner ?? deployer;
  const chain = walletClient.chain ?? null;

  const tokenReceipt = await mined(publicClient, await walletClient.deployContract({
    abi: DatToken.abi, bytecode: DatToken.bytecode, args: [deployer], chain, account: walletClient.account,
  }), "deploy DatToken");
  const token = tokenReceipt.contractAddress!;
  const registryReceipt = await mined(publicClient, await walletClient.deployContract({
    abi: NodeRegistry.abi, bytecode: NodeRegistry.bytecode, args: [], chain, account: walletClient.account,
  }), "deploy NodeRegistry");
  // Distributor and staking refer to each other through immutables: the staking contract's address
  // is known before it exists (the deployer's next nonce after the distributor).
  const nonce = await publicClient.getTransactionCount({ address: deployer, blockTag: "pending" });
  const predictedStaking = getContractAddress({ from: deployer, nonce: BigInt(nonce + 1) });
  const distributorReceipt = await mined(publicClient, await walletClient.deployContract({
    abi: RewardDistributor.abi, bytecode: RewardDistributor.bytecode, args: [token, predictedStaking, owner], chain, account: walletClient.account,
    nonce,
  }), "deploy RewardDistributor");
  const distributor = distributorReceipt.contractAddress!;
  const stakingReceipt = await mined(publicClient, await walletClient.deployContract({
    abi: Staking.abi, bytecode: Staking.bytecode, chain, account: walletClient.account, nonce: nonce + 1,
    args: [token, distributor, owner, BigInt(options.defaultCooldown ?? DEFAULT_UNSTAKE_COOLDOWN)],
  }), "deploy Staking");
  if (getAddress(stakingReceipt.contractAddress!) !== getAddress(predictedStaking)) {
    throw new Error(`Staking deployed at ${stakingReceipt.contractAddress}, not at the predicted ${predictedStaking}`);
  }
  for (const { to, amount } of options.mint ?? []) {
    await mined(publicClient, await walletClient.writeContract({
      address: token, abi: DatToken.abi, functionName: "mint", args: [to, amount], chain, account: walletClient.account,
    }), "mint DAT");
  }
  if (owner.toLowerCase() !== deployer.toLowerCase()) {
    await mined(publicClient, await walletClient.writeContract({
      address: token, abi: DatToken.abi, functionName: "transferOwnership", args: [owner], chain, account: walletClient.account,
    }), "transfer token ownership");
  }
  return {
    token: getAddress(token),
    registry: getAddress(registryReceipt.contractAddress!),
    distributor: getAddress(distributor),
    staking: getAddress(predictedStaking),
    blockNumber: Number(tokenReceipt.blockNumber),
  };
}

/**
 * Record `contracts` as chain.deployments[chainId] in the home's config, keeping the other
 * chains' deployments; with `use`, also point chain.rpcUrl and chain.chainId at that chain.
 */
export async function recordDeployment(
  home: string,
  chainId: number,
  contracts: DeployedContracts,
  use?: { rpcUrl: string },
): Promise<void> {
  await updateConfig(home, (cfg) => {
    const chain = (cfg.chain ?? {}) as Record<string, unknown>;
    const deployments = { ...((chain.deployments ?? {}) as Record<string, unknown>), [String(chainId)]: contracts };
    cfg.chain = use ? { ...chain, rpcUrl: use.rpcUrl, chainId, deployments } : { ...chain, deployments };
    return cfg;
  });
}
