/** `dat job show <id>`: settings, gate, and the learning curve. */
import type { CliContext } from "../../context.js";
import { UsageError } from "../../../core/errors.js";
import { formatTable } from "../../output.js";
import { formatMetric, formatPercent, formatTokenAmount } from "../../format.js";
import type { RoundSummary } from "../../../orchestrator/types.js";

export function parseJobId(raw: string | undefined, flag = "job id"): number {
  if (raw === undefined || !/^[1-9]\d{0,15}$/.test(raw)) throw new UsageError(`The ${flag} must be a positive integer, got "${raw ?? ""}".`, { code: "BAD_JOB_ID" });
  return Number(raw);
}

/** The learning curve as table lines. */
export function curveLines(history: RoundSummary[]): string[] {
  if (history.length === 0) return ["no rounds yet"];
  const dp = history.some((h) => h.epsilon !== undefined);
  return formatTable(
    ["round", "state", "accepted", "loss", "accuracy", ...(dp ? ["ε (δ=1e-5)"] : []), "model / reason"],
    history.map((h) => [
      h.round, h.state, h.accepted ?? "-", formatMetric(h.loss), formatPercent(h.accuracy),
      ...(dp ? [h.epsilon === null ? "∞" : h.epsilon?.toFixed(3) ?? "-"] : []), h.modelCid ?? h.failureReason ?? "-",
    ]),
  );
}

export async function jobShow(ctx: CliContext, rawId: string | undefined): Promise<void> {
  const id = parseJobId(rawId);
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orch = await openOrchestrator(ctx);
  try {
    const job = await orch.getJob(id);
    ctx.out.result(job, (j) => [
      `job ${j.id}${j.name ? ` (${j.name})` : ""}: ${j.publishedRounds}/${j.rounds} rounds published, min ${j.minContributors} contributors${j.maxContributors ? `, max ${j.maxContributors}` : ""}, deadline ${j.deadlineSeconds}s`,
      `training: ${j.hyper.epochs} epoch(s), batch ${j.hyper.batchSize}, lr ${j.hyper.lr}, ${j.hyper.optimizer}`,
      `aggregation: ${j.strategy} ${JSON.stringify(j.strategyParams)} · encoding ${j.encoding}${j.dp ? ` · dp clip ${j.dp.clip} noise ${j.dp.noise}` : ""}`,
      `reward per round: ${formatTokenAmount(j.rewardPerRound)} · validation: ${j.validation ? `${j.validation.path} (label ${j.validation.labelColumn})` : "none"}`,
      `gate: ${j.gate.min === "0" ? `none (public model${j.minStake ? "" : ": no minimum stake, so anyone who registers gets it"})` : `${j.gate.token ?? "the deployed DatToken"}, min ${j.gate.min === null || j.gate.min === undefined ? "1 whole token" : j.gate.token ? `${j.gate.min} base units` : formatTokenAmount(j.gate.min)}`} · model encrypted: ${j.encryptModel ? "yes" : "no"}`,
      `stake: ${j.minStake ? `at least ${formatTokenAmount(j.minStake)} per contributor, checked on chain when a round opens` : "none (trusted group: any registered node may submit)"}`
        + (j.maxSamples ? ` · max samples per claim: ${j.maxSamples}` : ""),
      `model: ${j.modelCid}`,
      "",
      ...curveLines(j.history),
    ]);
  } finally {
    await orch.close();
  }
}
