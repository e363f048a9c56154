import type { Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { startDevnet, type Devnet } from "../../src/chain/devnet.js";
import { connectChain, mined, type ChainConnection } from "../../src/chain/clients.js";
import { deployContracts, type DeployedContracts } from "../../src/chain/deploy.js";
import { DatToken } from "../../src/chain/artifacts/index.js";

export interface DeployedDevnet {
  devnet: Devnet;
  /** The first devnet account: deployer, owner and publisher of everything. */
  operator: ChainConnection;
  contracts: DeployedContracts;
}

/** A devnet on a free port with dat's contracts deployed by its first account, minted `operatorTokens` DAT. */
export async function startDeployedDevnet(options: { accounts: number; operatorTokens?: bigint }): Promise<DeployedDevnet> {
  const devnet = await startDevnet({ port: 0, accounts: options.accounts });
  const operator = await connectChain({ rpcUrl: devnet.url, account: privateKeyToAccount(devnet.accounts[0]) });
  const to = operator.walletClient!.account.address;
  const contracts = await deployContracts(operator.walletClient!, operator.publicClient, {
    mint: options.operatorTokens ? [{ to, amount: options.operatorTokens }] : [],
  });
  return { devnet, operator, contracts };
}

/** Send DAT from the operator's wallet with `functionName` (mint needs the token's owner). */
export async function sendDat(
  { operator, contracts }: Pick<DeployedDevnet, "operator" | "contracts">,
  functionName: "mint" | "transfer",
  to: Address,
  amount: bigint,
): Promise<void> {
  await mined(operator.publicClient, await operator.walletClient!.writeContract({
    address: contracts.token, abi: DatToken.abi, functionName, args: [to, amount],
  }), functionName);
}
