/** `dat model pull --job`. */
import type { CliContext } from "../../context.js";
import { parseJobId } from "../job/show.js";

export async function modelPull(ctx: CliContext, opts: { job: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const { openOrchestrator } = await import("../../orchestrator.js");
  const { pullJobModel } = await import("../../../contributor/pull.js");
  const orch = await openOrchestrator(ctx);
  try {
    const pulled = await pullJobModel(orch, ctx.home, jobId);
    ctx.out.result(pulled, (p) => [`${p.cached ? "already had" : "pulled"} ${p.cid} → ${p.dir}`]);
  } finally {
    await orch.close();
  }
}
