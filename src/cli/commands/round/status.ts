/** `dat round status`: the round's state and submissions, and the job's learning curve. */
import type { CliContext } from "../../context.js";
import { formatTable } from "../../output.js";
import { formatAddress, formatMetric } from "../../format.js";
import { curveLines, parseJobId } from "../job/show.js";

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
      ...curveLines(s.curve),
    ]);
  } finally {
    await orch.close();
  }
}
