import type { Chain } from "viem";
import { configOptions, type CliContext } from "../../context.js";
import { UsageError } from "../../../core/errors.js";
import { loadConfig } from "../../../config/index.js";
import { unlockAccount } from "../../unlock.js";
import { connectChain, toChainError } from "../../../chain/clients.js";
import { deployContracts, recordDeployment } from "../../../chain/deploy.js";

/** A viem chain by name (case-insensitive, key or display name) or by decimal id; ids not in viem pass as ids. */
export async function resolveChainOption(value: string): Promise<{ id: number; chain?: Chain }> {
  const chains = (await import("viem/chains")) as unknown as Record<string, Chain>;
  const list = Object.entries(chains).filter(([, c]) => typeof c === "object" && c !== null && typeof c.id === "number");
  if (/^\d+$/.test(value)) {
    const id = Number(value);
    return { id, chain: list.find(([, c]) => c.id === id)?.[1] };
  }
  const wanted = value.toLowerCase();
  const found = list.find(([key, c]) => key.toLowerCase() === wanted || c.name.toLowerCase() === wanted);
  if (!found) {
    throw new UsageError(`Unknown chain "${value}".`, {
      code: "UNKNOWN_CHAIN",
      hint: "Use a viem chain name such as sepolia, baseSepolia, mainnet, or a decimal chain id.",
    });
  }
  return { id: found[1].id, chain: found[1] };
}

export async function chainDeploy(ctx: CliContext, opts: { chain?: string }): Promise<void> {
  const config = await loadConfig(configOptions(ctx));
  const rpcUrl = config.values.chain.rpcUrl;
  const expected = opts.chain === undefined ? undefined : await resolveChainOption(opts.chain);
  const account = await unlockAccount(ctx);
  const { walletClient, publicClient, chainId } = await connectChain({
    rpcUrl, expectedChainId: expected?.id, chain: expected?.chain, account,
  });
  const spinner = await ctx.out.spinner(`Deploying dat's contracts to chain ${chainId} from ${account.address}…`);
  let contracts;
  try {
    contracts = await deployContracts(walletClient!, publicClient, { owner: account.address });
  } catch (error) {
    spinner.fail("Deployment failed");
    throw toChainError(error, "deploy the contracts");
  }
  spinner.succeed(`Deployed to chain ${chainId}`);
  await recordDeployment(ctx.home, chainId, contracts);
  const result = { chainId, rpcUrl, owner: account.address, ...contracts };
  ctx.out.result(result, (r) => [
    `chain id     ${r.chainId}`,
    `token        ${r.token}`,
    `registry     ${r.registry}`,
    `distributor  ${r.distributor}`,
    `staking      ${r.staking}`,
    `owner        ${r.owner}`,
    `Recorded in chain.deployments.${r.chainId}; set chain.rpcUrl and chain.chainId to use this chain.`,
  ]);
}
