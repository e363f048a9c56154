/** `dat round verify`: the round's model and every aggregated blob are in the store under their CIDs. */
import type { CliContext } from "../../context.js";
import { ExitCode } from "../../../core/errors.js";
import { parseJobId } from "../job/show.js";

export async function roundVerify(ctx: CliContext, opts: { job: string; round?: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const round = opts.round === undefined ? undefined : parseJobId(opts.round, "--round");
  const { connectOrchestrator } = await import("../../../orchestrator/connect.js");
  const { bytesMatchCid } = await import("../../../store/cid.js");
  const orch = await connectOrchestrator(ctx);
  try {
    const status = await orch.roundStatus(jobId, round);
    const checks: { what: string; cid: string; ok: boolean; error?: string }[] = [];
    for (const [what, cid] of [["base model", status.baseModelCid], ...(status.modelCid ? [["published model", status.modelCid]] : [])] as [string, string][]) {
      try {
        checks.push({ what, cid, ok: await bytesMatchCid(await orch.getModel(cid), cid) });
      } catch (error) {
        checks.push({ what, cid, ok: false, error: (error as Error).message });
      }
    }
    const ok = checks.every((c) => c.ok);
    ctx.out.result({ jobId, round: status.round, state: status.state, ok, checks }, (r) => [
      ...r.checks.map((c) => `${c.ok ? "ok  " : "FAIL"} ${c.what} ${c.cid}${c.error ? ` (${c.error})` : ""}`),
      r.ok ? `round ${r.round} verified` : `round ${r.round} does NOT verify`,
    ]);
    if (!ok) process.exitCode = ExitCode.failed;
  } finally {
    await orch.close();
  }
}
