/** `dat round close`: close now (or resume an interrupted close); exit 7 unless published. */
import type { CliContext } from "../../context.js";
import { ExitCode } from "../../../core/errors.js";
import { parseJobId } from "../job/show.js";

export async function roundClose(ctx: CliContext, opts: { job: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orch = await openOrchestrator(ctx);
  try {
    const result = await orch.closeRound(jobId);
    ctx.out.result(result, (r) => [r.state === "published" ? `round ${r.round} published: model ${r.modelCid}` : `round ${r.round} ${r.state}: ${r.failureReason ?? ""}`]);
    if (result.state !== "published") process.exitCode = ExitCode.failed;
  } finally {
    await orch.close();
  }
}
