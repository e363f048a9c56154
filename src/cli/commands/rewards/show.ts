import { isAddress, type Address } from "viem";
import { configOptions, type CliContext } from "../../context.js";
import { formatTable } from "../../output.js";
import { formatAddress, formatTokenAmount } from "../../format.js";
import { NotFoundError, UsageError, isDatError } from "../../../core/errors.js";
import type { DatConfig } from "../../../config/schema.js";
import { loadConfig } from "../../../config/index.js";
import { readAddress } from "../../../crypto/keystore.js";
import { connectConfiguredChain } from "../../../chain/clients.js";
import { getRewards, readPublishedRounds, type RewardsReport } from "../../../chain/rewards.js";
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
  if (job !== undefined && report.entries.length === 0 && report.unavailable.length === 0) {
    const published = await readPublishedRounds({
      publicClient: chain.publicClient, distributor: chain.deployment.distributor as Address, fromBlock: chain.deployment.blockNumber,
      blockRange: config.values.chain.logBlockRange, jobId: job,
    });
    if (published.length === 0) await requireKnownJob(ctx, config.values, job);
  }
  ctx.out.result(toJson(report, chain.chainId), () => render(report));
}

/**
 * A job with no round on chain must at least be known to the orchestrator: otherwise it does not
 * exist (exit 4), rather than an empty report that looks like "nothing earned yet".
 */
async function requireKnownJob(ctx: CliContext, config: DatConfig, job: string): Promise<void> {
  const notFound = (why: string) => new NotFoundError(`No job ${job}: ${why}.`, {
    code: "JOB_NOT_FOUND", hint: "List jobs with: dat job list", data: { jobId: job },
  });
  if (!/^[1-9]\d{0,15}$/.test(job)) throw notFound("no round of it was published on chain");
  const { openOrchestrator } = await import("../../orchestrator.js");
  const { requireJob } = await import("../../checks.js");
  const orch = await openOrchestrator(ctx, config);
  try {
    await requireJob(orch, Number(job));
  } catch (error) {
    if (isDatError(error) && error.code === "JOB_NOT_FOUND") throw notFound("no round of it was published on chain and the orchestrator does not know it");
    // The orchestrator could not be asked: the job may exist with nothing published yet.
    ctx.out.warn(`job ${job} has no round published on chain; the orchestrator could not confirm it exists (${(error as Error).message}).`);
  } finally {
    await orch.close();
  }
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
