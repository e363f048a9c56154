/** `dat round start`: one whole round; exit code 7 unless it published. */
import { configOptions, type CliContext } from "../../context.js";
import { ExitCode, UsageError } from "../../../core/errors.js";
import { parseDurationSeconds } from "../../../core/round.js";
import { parseJobId } from "../job/show.js";
import { formatMetric, formatPercent } from "../../format.js";
import type { DatConfig } from "../../../config/schema.js";
import type { RoundSettler } from "../../../orchestrator/runRound.js";

export function parseDeadline(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const s = parseDurationSeconds(raw);
  if (s === null) throw new UsageError(`--deadline must be a duration such as 90s or 10m, got "${raw}".`);
  return s;
}

export async function roundStart(ctx: CliContext, opts: { job: string; deadline?: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const deadlineSeconds = parseDeadline(opts.deadline);
  const { runRound } = await import("../../../orchestrator/runRound.js");
  const { loadConfig } = await import("../../../config/index.js");
  const config = (await loadConfig(configOptions(ctx))).values;
  // Unlocked before the wait starts: a passphrase prompt must not appear after minutes of waiting.
  const settle = await roundSettler(ctx, config);
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orch = await openOrchestrator(ctx, config);
  const spinner = await ctx.out.spinner(`job ${jobId}: waiting for submissions…`);
  const stopEcho = await (await import("./watch.js")).echoRoundEvents(ctx, jobId, (line) => (ctx.out.interactive ? spinner.text(line) : ctx.out.info(line)));
  let lastCount = -1;
  const result = await runRound(orch, {
    jobId, deadlineSeconds, settle,
    onProgress: (p) => {
      spinner.text(`job ${jobId} round ${p.round}: ${p.accepted}/${p.minContributors} submissions, ${Math.ceil(p.remainingMs / 1000)}s left`);
      if (p.accepted !== lastCount) {
        lastCount = p.accepted;
        ctx.out.event("round-progress", { jobId, ...p });
      }
    },
  }).catch((error) => {
    spinner.fail();
    throw error;
  }).finally(async () => {
    await stopEcho();
    await orch.close();
  });
  spinner.stop();
  ctx.out.result(result, (r) => [
    r.state === "published"
      ? `round ${r.round} of job ${r.jobId} published: model ${r.modelCid}`
      : `round ${r.round} of job ${r.jobId} ${r.state}: ${r.failureReason ?? ""}`,
    ...(typeof r.metrics?.accuracy === "number" ? [`validation: loss ${formatMetric(r.metrics.loss as number)}, accuracy ${formatPercent(r.metrics.accuracy)}`] : []),
    `${r.scores.length} contribution(s) aggregated, ${r.rejected.length} rejected`,
    `settlement: ${r.settlement.status}${r.settlement.reason ? ` (${r.settlement.reason})` : ""}${r.settlement.error ? ` (${r.settlement.error})` : ""}${r.settlement.txHash ? ` tx ${r.settlement.txHash}` : ""}`,
  ]);
  if (result.state !== "published") {
    process.exitCode = ExitCode.failed;
  } else if (result.settlement.status === "failed") {
    ctx.out.warn(`the round published locally but its settlement failed; retry: dat round publish --job ${jobId} --round ${result.round}`);
    process.exitCode = ExitCode.failed;
  }
}

/** How a published round settles: on chain in this home when a deployment is configured, else skipped with the reason. */
async function roundSettler(ctx: CliContext, config: DatConfig): Promise<RoundSettler> {
  if (Object.keys(config.chain.deployments).length === 0) {
    return async () => ({ status: "skipped", reason: "no chain deployment configured (dat devnet or dat chain deploy)" });
  }
  if (ctx.orchestrator) return async () => ({ status: "skipped", reason: "settlement runs in the orchestrator's home, not over --orchestrator" });
  const { unlockAccount } = await import("../../unlock.js");
  let account: Awaited<ReturnType<typeof unlockAccount>>;
  try {
    account = await unlockAccount(ctx);
  } catch (error) {
    // Settlement needs the wallet: say so now, before a round opens and contributors spend a round's work
    // on it, rather than after the wait under a spinner that looks hung.
    ctx.out.warn("the round's settlement on chain needs the operator's wallet; no round was opened.");
    throw error;
  }
  const { settleOnChain } = await import("../../../orchestrator/runRound.js");
  return settleOnChain({ home: ctx.home, config, account });
}
