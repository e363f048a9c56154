/**
 * `dat round publish --job <id> --round <r>`: retry the on-chain settlement of a closed round.
 * Registered by the round group (src/cli/commands/round/index.ts).
 */
import type { Address } from "viem";
import { configOptions, type CliContext } from "../../context.js";
import { NotFoundError, UsageError } from "../../../core/errors.js";
import { loadConfig } from "../../../config/index.js";
import { openDatabase } from "../../../db/index.js";
import { getSettlement } from "../../../db/settlements.js";
import { getRoundEcon } from "../../../db/econ.js";
import { unlockAccount } from "../../unlock.js";
import { connectConfiguredChain } from "../../../chain/clients.js";
import { publishSettlement } from "../../../chain/settle.js";

export async function roundPublish(ctx: CliContext, opts: { job: string; round: string | number }): Promise<void> {
  const round = Number(opts.round);
  if (!/^\d+$/.test(String(opts.round).trim()) || !Number.isSafeInteger(round)) {
    throw new UsageError(`--round must be a non-negative integer, got "${opts.round}".`, { code: "BAD_ROUND" });
  }
  const job = String(opts.job);
  const db = openDatabase(ctx.home);
  try {
    const settlement = getSettlement(db, job, round);
    if (!settlement) {
      throw new NotFoundError(`No settlement is recorded for job ${job} round ${round}.`, {
        code: "NO_SETTLEMENT",
        hint: `A round is settled when it closes: dat round start --job ${job}`,
      });
    }
    // The slash list fixed at close (round_econ), exactly as the first attempt sent it: the contract
    // publishes a round once, so a retry that left it out would never slash those addresses.
    const slashes = /^\d+$/.test(job) ? getRoundEcon(db, Number(job), round).slashes as Address[] : [];
    const config = await loadConfig(configOptions(ctx));
    const account = await unlockAccount(ctx);
    const chain = await connectConfiguredChain(config.values, { account });
    const spinner = await ctx.out.spinner(`Publishing round ${round} of job ${job}…`);
    let result;
    try {
      result = await publishSettlement({
        db, publicClient: chain.publicClient, walletClient: chain.walletClient!,
        distributor: chain.deployment.distributor as Address, settlement, slashes,
      });
    } catch (error) {
      spinner.fail(`Round ${round} of job ${job} is still unpublished`);
      throw error;
    }
    spinner.stop();
    const data = { jobId: job, round, chainId: chain.chainId, ...result };
    ctx.out.result(data, (r) => [
      r.alreadyPublished
        ? `Round ${r.round} of job ${r.jobId} was already on chain ${r.chainId}; nothing sent.`
        : `Published round ${r.round} of job ${r.jobId} on chain ${r.chainId} (tx ${r.txHash}).`,
      `reward root ${r.rewardRoot} · total ${r.total} · ${r.amounts.length} contributor(s)${r.treeCid ? ` · tree ${r.treeCid}` : ""}`,
    ]);
  } finally {
    db.close();
  }
}
