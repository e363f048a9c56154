/** `dat push --job`. */
import fs from "node:fs";
import type { CliContext } from "../../context.js";
import { NotFoundError } from "../../../core/errors.js";
import { parseJobId } from "../job/show.js";

export async function push(ctx: CliContext, opts: { job: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  await requireLocalDelta(ctx.home, jobId);
  const { unlockAccount } = await import("../../unlock.js");
  const account = await unlockAccount(ctx);
  const [{ openOrchestrator }, { pushLastDelta }, { privacyLines }] = await Promise.all([
    import("../../orchestrator.js"), import("../../../contributor/push.js"), import("../../privacyLines.js"),
  ]);
  const orch = await openOrchestrator(ctx);
  try {
    await (await import("../../checks.js")).requireJob(orch, jobId);
    const receipt = await pushLastDelta(orch, account, { home: ctx.home, jobId });
    ctx.out.event("pushed", { jobId: receipt.jobId, round: receipt.round, blobCid: receipt.blobCid, accepted: receipt.accepted });
    ctx.out.result(receipt, (r) => [`submitted ${r.blobCid} to round ${r.round} of job ${r.jobId} (${r.accepted} in the round)`, ...privacyLines(r.privacy)]);
  } finally {
    await orch.close();
  }
}

/** The delta to push is a local input: without one, say so before unlocking or calling the orchestrator. */
async function requireLocalDelta(home: string, jobId: number): Promise<void> {
  const { openDatabase } = await import("../../../db/index.js");
  const { listTrainingRuns } = await import("../../../db/trainingRuns.js");
  const db = openDatabase(home);
  let found: boolean;
  try {
    found = listTrainingRuns(db, 200).some((r) => r.jobId === jobId && r.status === "completed" && r.deltaPath && fs.existsSync(r.deltaPath));
  } finally {
    db.close();
  }
  if (!found) {
    throw new NotFoundError(`No trained delta for job ${jobId} in ${home}.`, { code: "NO_DELTA", hint: `Train first: dat train --job ${jobId} --data <file> --no-push` });
  }
}
