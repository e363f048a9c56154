/** `dat push --job`. */
import type { CliContext } from "../../context.js";
import { parseJobId } from "../job/show.js";

export async function push(ctx: CliContext, opts: { job: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const { pushLastDelta, privacyLines } = await import("../../../orchestrator/contributor.js");
  const receipt = await pushLastDelta(ctx, jobId);
  ctx.out.result(receipt, (r) => [`submitted ${r.blobCid} to round ${r.round} of job ${r.jobId} (${r.accepted} in the round)`, ...privacyLines(r.privacy)]);
}
