/** `dat node unstake --job <id> [--withdraw]` and `dat node stake --job <id> --amount <n>`. */
import type { CliContext } from "../../context.js";
import { parseStakeAmount, parseStakeJob } from "./stakeOptions.js";

async function stakingChain(ctx: CliContext) {
  const { loadConfig } = await import("../../../config/index.js");
  const { unlockAccount } = await import("../../unlock.js");
  const { connectConfiguredChain } = await import("../../../chain/clients.js");
  const { stakingAddress } = await import("../../../chain/staking.js");
  const config = (await loadConfig(ctx)).values;
  // Unlock before any network call or wait: the prompt must not sit under a spinner.
  const account = await unlockAccount(ctx);
  const chain = await connectConfiguredChain(config, { account });
  return { chain, account, staking: stakingAddress(chain.deployment, chain.chainId) };
}

export async function nodeUnstake(ctx: CliContext, opts: { job?: string; withdraw?: boolean }): Promise<void> {
  const job = parseStakeJob(opts.job);
  const { formatTokenAmount: formatUnits } = await import("../../format.js");
  const { requestUnstake, withdrawStake } = await import("../../../chain/staking.js");
  const { chain, account, staking } = await stakingChain(ctx);
  if (opts.withdraw) {
    const result = await withdrawStake(chain.publicClient, chain.walletClient!, { staking, jobId: job });
    ctx.out.result({ address: account.address, job, ...result }, (r) => [
      `Withdrew ${formatUnits(r.amount)} of job ${r.job} to ${r.address} (tx ${r.txHash}).`,
    ]);
    return;
  }
  const result = await requestUnstake(chain.publicClient, chain.walletClient!, { staking, jobId: job });
  ctx.out.result({ address: account.address, job, ...result, unlockAtIso: new Date(result.unlockAt * 1000).toISOString() }, (r) => [
    `${formatUnits(r.amount)} of job ${r.job} no longer counts as stake (tx ${r.txHash}).`,
    `Withdraw ${formatUnits(r.pending)} from ${r.unlockAtIso}: dat node unstake --job ${r.job} --withdraw`,
  ]);
}

export async function nodeStake(ctx: CliContext, opts: { job?: string; amount?: string }): Promise<void> {
  const job = parseStakeJob(opts.job);
  const amount = parseStakeAmount(opts.amount);
  const { formatTokenAmount: formatUnits } = await import("../../format.js");
  const { stakeForJob, getJobMinStake } = await import("../../../chain/staking.js");
  const { chain, account, staking } = await stakingChain(ctx);
  const result = await stakeForJob(chain.publicClient, chain.walletClient!, { staking, jobId: job, amount });
  const { minStake } = await getJobMinStake(chain.publicClient, { staking, jobId: job });
  ctx.out.result({ address: account.address, job, amount, ...result, minStake, meetsMinimum: result.stake >= minStake }, (r) => [
    `Staked ${formatUnits(r.amount)} in job ${r.job} (tx ${r.txHash}); stake now ${formatUnits(r.stake)}.`,
    r.meetsMinimum
      ? `It meets the job's minimum of ${formatUnits(r.minStake)} from the next round that opens.`
      : `Below the job's minimum of ${formatUnits(r.minStake)}: stake ${formatUnits(r.minStake - r.stake)} more to take part.`,
  ]);
}
