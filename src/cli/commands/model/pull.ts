/** `dat model pull --job`. */
import type { CliContext } from "../../context.js";
import { parseJobId } from "../job/show.js";

export async function modelPull(ctx: CliContext, opts: { job: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const { pullJobModel } = await import("../../../orchestrator/contributor.js");
  const pulled = await pullJobModel(ctx, jobId);
  ctx.out.result(pulled, (p) => [`${p.cached ? "already had" : "pulled"} ${p.cid} → ${p.dir}`]);
}
