import { isAddress, type Address } from "viem";
import { configOptions, type CliContext } from "../../context.js";
import { formatTable } from "../../output.js";
import { formatAddress, formatTokenAmount } from "../../format.js";
import { UsageError } from "../../../core/errors.js";
import { loadConfig } from "../../../config/index.js";
import { readAddress } from "../../../crypto/keystore.js";
import { connectConfiguredChain } from "../../../chain/clients.js";
import { getRewards, type RewardsReport } from "../../../chain/rewards.js";
import { openRewardsStore } from "./treeStore.js";

/** Validate a --job value (a job id: letters, digits, `-`, `_`, `.`). */
export function parseJobOption(job: string | undefined): string | undefined {
  if (job === undefined) return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(job)) {
    throw new UsageError(`--job must be a job id, got "${job}".`, { code: "BAD_JOB" });
  }
  return job;
}

export async function rewardsShow(ctx: CliContext, opts: { address?: string; job?: string }): Promise<void> {
  const job = parseJobOption(opts.job);
  if (opts.address !== undefined && !isAddress(opts.address, { strict: false })) {
    throw new UsageError(`--address must be a 0x-prefixed 20-byte address, got "${opts.address}".`, { code: "BAD_ADDRESS" });
  }
  const address = (opts.address as Address | undefined) ?? (await readAddress(ctx.home));
  const config = await loadConfig(configOptions(ctx));
  const chain = await connectConfiguredChain(config.values);
  const store = await openRewardsStore(ctx, config);
  const report = await getRewards({
    publicClient: chain.publicClient,
    distributor: chain.deployment.distributor as Address,
    fromBlock: chain.deployment.blockNumber,
    blockRange: config.values.chain.logBlockRange,
    store,
    address,
    jobId: job,
  });
  ctx.out.result(toJson(report, chain.chainId), () => render(report));
}

function toJson(report: RewardsReport, chainId: number) {
  return {
    address: report.address,
    chainId,
    token: report.token,
    balance: report.balance,
    earned: report.earned,
    claimed: report.claimed,
    claimable: report.claimable,
    rounds: report.entries.map((e) => ({ jobId: e.jobId, round: e.round, amount: e.amount, claimed: e.claimed, treeCid: e.treeCid, modelCid: e.modelCid })),
    unavailable: report.unavailable,
  };
}

function render(report: RewardsReport): string[] {
  const dat = (v: bigint) => formatTokenAmount(v);
  const lines = [`Rewards of ${formatAddress(report.address)}`];
  if (report.entries.length === 0) lines.push("No rewards published for this address.");
  else {
    lines.push(...formatTable(
      ["job", "round", "amount", "status"],
      report.entries.map((e) => [e.jobId, e.round, dat(e.amount), e.claimed ? "claimed" : "claimable"]),
    ));
  }
  for (const u of report.unavailable) lines.push(`job ${u.jobId} round ${u.round}: tree ${u.treeCid} unavailable (${u.reason})`);
  lines.push(`earned ${dat(report.earned)} · claimed ${dat(report.claimed)} · claimable ${dat(report.claimable)} · balance ${dat(report.balance)}`);
  if (report.claimable > 0n) lines.push("Claim with: dat rewards claim");
  return lines;
}
