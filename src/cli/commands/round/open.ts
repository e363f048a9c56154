/** `dat round open`. */
import type { CliContext } from "../../context.js";
import { parseJobId } from "../job/show.js";
import { parseDeadline } from "./start.js";

export async function roundOpen(ctx: CliContext, opts: { job: string; deadline?: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orch = await openOrchestrator(ctx);
  try {
    const round = await orch.openRound(jobId, { deadlineSeconds: parseDeadline(opts.deadline) });
    ctx.out.result(round, (r) => [`round ${r.round} of job ${r.jobId} collecting until ${new Date(r.deadline).toISOString()}`, `round key ${r.publicKey}`, `model ${r.modelCid}`]);
  } finally {
    await orch.close();
  }
}
