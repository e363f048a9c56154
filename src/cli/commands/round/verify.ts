/** `dat round verify`: the round's model and every aggregated blob are in the store under their CIDs. */
import { configOptions, type CliContext } from "../../context.js";
import { ExitCode } from "../../../core/errors.js";
import { parseJobId } from "../job/show.js";
import type { Orchestrator } from "../../../orchestrator/types.js";
import type { ChainVerification } from "../../../orchestrator/verifyChain.js";

export async function roundVerify(ctx: CliContext, opts: { job: string; round?: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const round = opts.round === undefined ? undefined : parseJobId(opts.round, "--round");
  const { openOrchestrator } = await import("../../orchestrator.js");
  const { bytesMatchCid } = await import("../../../store/cid.js");
  const orch = await openOrchestrator(ctx);
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
    const chain = await verifyChain(ctx, orch, jobId, status.round, status.modelCid);
    const ok = checks.every((c) => c.ok) && chain.checks.every((c) => c.ok);
    ctx.out.result({ jobId, round: status.round, state: status.state, ok, checks, chain }, (r) => [
      ...r.checks.map((c) => `${c.ok ? "ok  " : "FAIL"} ${c.what} ${c.cid}${c.error ? ` (${c.error})` : ""}`),
      ...r.chain.checks.map((c) => `${c.ok ? "ok  " : "FAIL"} chain: ${c.what} (${c.detail})`),
      ...(r.chain.note ? [`chain: ${r.chain.status} — ${r.chain.note}`] : []),
      r.ok ? `round ${r.round} verified` : `round ${r.round} does NOT verify`,
    ]);
    if (!ok) process.exitCode = ExitCode.failed;
  } finally {
    await orch.close();
  }
}

/** The chain part: skipped with a note when no deployment is configured; a chain fault is a failed check. */
async function verifyChain(ctx: CliContext, orch: Orchestrator, jobId: number, round: number, modelCid: string | null): Promise<ChainVerification> {
  const { loadConfig } = await import("../../../config/index.js");
  const config = (await loadConfig(configOptions(ctx))).values;
  if (Object.keys(config.chain.deployments).length === 0) {
    return { status: "skipped", note: "no chain deployment configured (dat devnet or dat chain deploy); only the store was checked", checks: [] };
  }
  try {
    const { connectConfiguredChain } = await import("../../../chain/clients.js");
    const { verifyRoundOnChain } = await import("../../../orchestrator/verifyChain.js");
    const chain = await connectConfiguredChain(config);
    // The settlement row lives in the operator's home; over --orchestrator only chain and store are compared.
    const db = ctx.orchestrator ? undefined : (await import("../../../db/index.js")).openDatabase(ctx.home);
    try {
      return await verifyRoundOnChain({
        publicClient: chain.publicClient, distributor: chain.deployment.distributor as `0x${string}`,
        fromBlock: chain.deployment.blockNumber ?? 0, jobId, round, modelCid, getBlob: (cid) => orch.getModel(cid), db,
        ...(chain.deployment.staking ? { staking: chain.deployment.staking as `0x${string}` } : {}),
      });
    } finally {
      db?.close();
    }
  } catch (error) {
    return { status: "checked", checks: [{ what: "chain", ok: false, detail: (error as Error).message }] };
  }
}
