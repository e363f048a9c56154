/** `dat push --job`. */
import type { CliContext } from "../../context.js";
import { parseJobId } from "../job/show.js";

export async function push(ctx: CliContext, opts: { job: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const { unlockAccount } = await import("../../unlock.js");
  const account = await unlockAccount(ctx);
  const [{ openOrchestrator }, { pushLastDelta }, { privacyLines }] = await Promise.all([
    import("../../orchestrator.js"), import("../../../contributor/push.js"), import("../../privacyLines.js"),
  ]);
  const orch = await openOrchestrator(ctx);
  try {
    const receipt = await pushLastDelta(orch, account, { home: ctx.home, jobId });
    ctx.out.event("pushed", { jobId: receipt.jobId, round: receipt.round, blobCid: receipt.blobCid, accepted: receipt.accepted });
    ctx.out.result(receipt, (r) => [`submitted ${r.blobCid} to round ${r.round} of job ${r.jobId} (${r.accepted} in the round)`, ...privacyLines(r.privacy)]);
  } finally {
    await orch.close();
  }
}
