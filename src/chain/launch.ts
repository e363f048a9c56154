/**
 * `dat devnet` as a service: a local chain with dat's contracts deployed, the operator (the
 * wallet of the home) funded with ETH and DAT and made owner and publisher, and the addresses
 * written into the home's config so every other command finds them.
 */
import type { Address, PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { startDevnet, type Devnet, type DevnetTransaction } from "./devnet.js";
import { assertContractCode, connectChain } from "./clients.js";
import { deployContracts, recordDeployment, type DeployedContracts } from "./deploy.js";

export interface LaunchDevnetOptions {
  home: string;
  port?: number;
  accounts?: number;
  /** The operator; when absent the first devnet account owns everything. */
  operator?: Address;
  /** DAT minted to the operator, in base units (default 1 000 000 DAT). */
  operatorTokens?: bigint;
  /** ETH given to the operator, in wei (default 1 000 ETH). */
  operatorEth?: bigint;
  /** Keep the chain in this file across restarts (see devnet.ts); an existing file is replayed. */
  statePath?: string;
  onTransaction?: (tx: DevnetTransaction) => void;
}

export interface LaunchedDevnet {
  devnet: Devnet;
  url: string;
  chainId: number;
  contracts: DeployedContracts;
  operator: Address;
  operatorTokens: bigint;
  operatorEth: bigint;
  /** True when the chain (contracts, balances, rounds) came back from the state file. */
  restored: boolean;
}

interface SavedLaunch {
  contracts: DeployedContracts;
  operator: Address;
  operatorTokens: string;
  operatorEth: string;
}

/**
 * Start the devnet, deploy, fund the operator and record the deployment in the home's config.
 * With a state file that already holds a launch, the replayed chain's contracts are used as they
 * are (same addresses) and only recorded in the config again.
 */
export async function launchDevnet(options: LaunchDevnetOptions): Promise<LaunchedDevnet> {
  const devnet = await startDevnet({
    port: options.port, accounts: options.accounts, statePath: options.statePath, onTransaction: options.onTransaction,
  });
  try {
    const saved = devnet.restored?.records.launch as SavedLaunch | undefined;
    if (saved) {
      const { publicClient } = await connectChain({ rpcUrl: devnet.url });
      await assertDeployed(publicClient, saved.contracts);
      await recordDeployment(options.home, devnet.chainId, saved.contracts, { rpcUrl: devnet.url });
      return {
        devnet, url: devnet.url, chainId: devnet.chainId, contracts: saved.contracts, operator: saved.operator,
        operatorTokens: BigInt(saved.operatorTokens), operatorEth: BigInt(saved.operatorEth), restored: true,
      };
    }
    const deployer = privateKeyToAccount(devnet.accounts[0]);
    const operator = options.operator ?? deployer.address;
    const operatorTokens = options.operatorTokens ?? 1_000_000n * 10n ** 18n;
    const operatorEth = options.operatorEth ?? 1_000n * 10n ** 18n;
    const { walletClient, publicClient } = await connectChain({ rpcUrl: devnet.url, account: deployer });
    if (operator.toLowerCase() !== deployer.address.toLowerCase()) {
      // Set, not sent: the operator's balance is exact and the deployer's nonce stays predictable.
      await devnet.request({ method: "hardhat_setBalance", params: [operator, `0x${operatorEth.toString(16)}`] });
    }
    const contracts = await deployContracts(walletClient!, publicClient, {
      owner: operator,
      mint: [{ to: operator, amount: operatorTokens }],
    });
    devnet.remember("launch", {
      contracts, operator, operatorTokens: operatorTokens.toString(), operatorEth: operatorEth.toString(),
    } satisfies SavedLaunch);
    await recordDeployment(options.home, devnet.chainId, contracts, { rpcUrl: devnet.url });
    return { devnet, url: devnet.url, chainId: devnet.chainId, contracts, operator, operatorTokens, operatorEth, restored: false };
  } catch (error) {
    await devnet.stop();
    throw error;
  }
}

async function assertDeployed(publicClient: PublicClient, contracts: DeployedContracts): Promise<void> {
  await assertContractCode(publicClient, contracts.token, "DatToken");
  await assertContractCode(publicClient, contracts.registry, "NodeRegistry");
  await assertContractCode(publicClient, contracts.distributor, "RewardDistributor");
  await assertContractCode(publicClient, contracts.staking, "Staking");
}
