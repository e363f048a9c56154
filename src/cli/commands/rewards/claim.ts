import type { Address } from "viem";
import { formatTokenAmount } from "../../format.js";
import { configOptions, type CliContext } from "../../context.js";
import { loadConfig } from "../../../config/index.js";
import { unlockAccount } from "../../unlock.js";
import { connectConfiguredChain } from "../../../chain/clients.js";
import { claimRewards } from "../../../chain/rewards.js";
import { openRewardsStore } from "./treeStore.js";
import { parseJobOption } from "./show.js";

export async function rewardsClaim(ctx: CliContext, opts: { job?: string }): Promise<void> {
  const job = parseJobOption(opts.job);
  const config = await loadConfig(configOptions(ctx));
  const account = await unlockAccount(ctx);
  const chain = await connectConfiguredChain(config.values, { account });
  const store = await openRewardsStore(ctx, config);
  const spinner = await ctx.out.spinner("Claiming rewards…");
  let result;
  try {
    result = await claimRewards({
      publicClient: chain.publicClient,
      walletClient: chain.walletClient!,
      distributor: chain.deployment.distributor as Address,
      fromBlock: chain.deployment.blockNumber,
      blockRange: config.values.chain.logBlockRange,
      store,
      jobId: job,
    });
  } catch (error) {
    spinner.fail("Claim failed");
    throw error;
  }
  spinner.stop();
  ctx.out.result(result, (r) =>
    r.claimed.length === 0
      ? ["Nothing to claim."]
      : [
          `Claimed ${formatTokenAmount(r.total)} for ${r.claimed.length} round(s) in ${r.txHashes.length} transaction(s):`,
          ...r.claimed.map((c) => `  job ${c.jobId} round ${c.round}: ${formatTokenAmount(c.amount)}`),
          ...r.txHashes.map((h) => `  tx ${h}`),
          `Balance: ${formatTokenAmount(r.balance)}`,
        ],
  );
}
