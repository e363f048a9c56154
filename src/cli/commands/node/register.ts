/** `dat node register`. */
import { formatAddress, formatTokenAmount } from "../../format.js";
import os from "node:os";
import type { PrivateKeyAccount } from "viem";
import { configOptions, type CliContext } from "../../context.js";
import type { DatConfig } from "../../../config/schema.js";
import { UsageError, UserError } from "../../../core/errors.js";

export async function nodeRegister(ctx: CliContext, opts: { backend?: string; onchain?: boolean; stake?: string; job?: string }): Promise<void> {
  // Flags first: a bad amount fails before any prompt or network call.
  const stake = opts.stake === undefined ? undefined : await (async () => {
    const { parseStakeAmount, parseStakeJob } = await import("./stakeOptions.js");
    if (opts.job === undefined) throw new UsageError("--stake needs --job <id>: a stake is per job.", { code: "BAD_JOB" });
    return { amount: parseStakeAmount(opts.stake), job: parseStakeJob(opts.job) };
  })();
  const { loadConfig } = await import("../../../config/index.js");
  const { unlockAccount } = await import("../../unlock.js");
  const { buildRegistration } = await import("../../../contributor/submission.js");
  const { openOrchestrator } = await import("../../orchestrator.js");
  const config = (await loadConfig(configOptions(ctx))).values;
  const backend = opts.backend ?? config.train.backend;
  const account = await unlockAccount(ctx);
  const metadata = {
    platform: process.platform, arch: process.arch, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryBytes: os.totalmem(), node: process.version,
  };
  const registration = await buildRegistration(account, backend, metadata);
  // On-chain first: an orchestrator that requires it checks the registry when it sees the registration.
  const onchain = opts.onchain ? await registerOnchain(ctx, config, account, metadata) : undefined;
  // The stake before the registration: it counts from the next round that opens.
  const staked = stake ? await stakeBeforeRegister(config, account, stake) : undefined;
  const orch = await openOrchestrator(ctx, config);
  try {
    const node = await orch.registerNode(registration);
    ctx.out.result({ ...node, ...(onchain ? { onchain } : {}), ...(staked ? { stake: staked } : {}) }, (n) => [
      `registered ${formatAddress(n.address)} (${backend}, ${metadata.cpus} CPUs)`,
      ...(n.stake ? [`staked in job ${n.stake.job}: now ${formatTokenAmount(n.stake.stake)} (minimum ${formatTokenAmount(n.stake.minStake)}; tx ${n.stake.txHash})`] : []),
      ...(n.onchain ? [`on-chain: NodeRegistry ${n.onchain.registry}, metadata ${n.onchain.metadataCid}, tx ${n.onchain.txHash}`] : []),
    ]);
  } finally {
    await orch.close();
  }
}

/**
 * NodeRegistry.register(metadataCid) from the contributor's wallet; the metadata goes to the blob
 * store so the CID points at what this node announced.
 */
async function registerOnchain(
  ctx: CliContext,
  config: DatConfig,
  account: PrivateKeyAccount,
  metadata: Record<string, unknown>,
): Promise<{ registry: string; metadataCid: string; txHash: string; chainId: number }> {
  const { connectConfiguredChain, assertContractCode } = await import("../../../chain/clients.js");
  const { registerNode } = await import("../../../chain/registry.js");
  const { openStore } = await import("../../../store/index.js");
  const chain = await connectConfiguredChain(config, { account });
  const registry = chain.deployment.registry as `0x${string}`;
  await assertContractCode(chain.publicClient, registry, "NodeRegistry");
  const balance = await chain.publicClient.getBalance({ address: account.address });
  if (balance === 0n) {
    throw new UserError(`${account.address} has no ETH on chain ${chain.chainId} to pay for the registration's gas.`, {
      code: "INSUFFICIENT_FUNDS",
      hint: `Fund it: dat devnet fund --address ${account.address} (on a devnet), or send it ETH.`,
      data: { address: account.address, chainId: chain.chainId },
    });
  }
  const store = await openStore(ctx.home, config);
  const metadataCid = await store.put(new TextEncoder().encode(JSON.stringify(metadata)));
  const txHash = await registerNode(chain.publicClient, chain.walletClient!, registry, metadataCid);
  return { registry, metadataCid, txHash, chainId: chain.chainId };
}

/** Staking.stake for the job from the contributor's wallet (approve included), before registering. */
async function stakeBeforeRegister(
  config: DatConfig,
  account: PrivateKeyAccount,
  stake: { amount: bigint; job: string },
): Promise<{ job: string; stake: string; minStake: string; txHash: string }> {
  const { connectConfiguredChain } = await import("../../../chain/clients.js");
  const { stakeForJob, getJobMinStake, stakingAddress } = await import("../../../chain/staking.js");
  const chain = await connectConfiguredChain(config, { account });
  const staking = stakingAddress(chain.deployment, chain.chainId);
  const result = await stakeForJob(chain.publicClient, chain.walletClient!, { staking, jobId: stake.job, amount: stake.amount });
  const { minStake } = await getJobMinStake(chain.publicClient, { staking, jobId: stake.job });
  return { job: stake.job, stake: result.stake.toString(), minStake: minStake.toString(), txHash: result.txHash };
}
