/** `dat round status`: the round's state and submissions, and the job's learning curve. */
import type { CliContext } from "../../context.js";
import { formatTable } from "../../output.js";
import { formatAddress, formatMetric, formatPercent } from "../../format.js";
import { curveLines, parseJobId } from "../job/show.js";
import { renderSparkline, terminalSupportsUnicode } from "../../sparkline.js";

/**
 * The learning curve in one line: "accuracy ▁▃▅█ 12.0% → 81.0% (4 rounds)", over the rounds that
 * have an accuracy (a job without validation has none: no line). Failed rounds are gaps.
 */
export function accuracyCurveLine(history: readonly { accuracy?: number | null }[], options: { ascii?: boolean } = {}): string[] {
  const values = history.map((h) => (typeof h.accuracy === "number" && Number.isFinite(h.accuracy) ? h.accuracy : undefined));
  const measured = values.filter((v): v is number => v !== undefined);
  if (measured.length === 0) return [];
  const line = renderSparkline(values, { ascii: options.ascii, min: 0, max: 1 });
  const span = measured.length === 1 ? formatPercent(measured[0]) : `${formatPercent(measured[0])} ${options.ascii ? "->" : "→"} ${formatPercent(measured.at(-1))}`;
  return [`accuracy ${line} ${span} (${measured.length} round${measured.length === 1 ? "" : "s"} measured)`];
}

export async function roundStatus(ctx: CliContext, opts: { job: string; round?: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const round = opts.round === undefined ? undefined : parseJobId(opts.round, "--round");
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orch = await openOrchestrator(ctx);
  try {
    const status = await orch.roundStatus(jobId, round);
    const job = await orch.getJob(jobId);
    ctx.out.result({ ...status, curve: job.history }, (s) => [
      `job ${s.jobId} round ${s.round}: ${s.state}${s.failureReason ? ` (${s.failureReason})` : ""} · ${s.accepted}/${s.minContributors} submissions · deadline ${new Date(s.deadline).toISOString()}`,
      ...(s.modelCid ? [`model ${s.modelCid}`] : []),
      ...(s.privacy ? [`privacy: ε = ${s.privacy.epsilon === null ? "∞ (no noise)" : s.privacy.epsilon.toFixed(3)} at δ = ${s.privacy.delta} for a contributor in all ${s.privacy.rounds} round(s) (sampling rate ${s.privacy.sampleRate})`] : []),
      ...(s.submissions.length ? formatTable(["address", "samples", "status", "score"], s.submissions.map((x) => [formatAddress(x.address), x.sampleCount, x.status + (x.rejectReason ? ` (${x.rejectReason})` : ""), formatMetric(x.score)])) : []),
      "",
      ...accuracyCurveLine(s.curve, { ascii: !terminalSupportsUnicode(ctx.env) }),
      ...curveLines(s.curve),
    ]);
  } finally {
    await orch.close();
  }
}
