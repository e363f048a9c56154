import type { CliContext } from "../../context.js";
import type { BlobStore } from "../../../store/index.js";
import { openStore } from "../../../store/index.js";
import { readThroughStore } from "../../../store/readThrough.js";
import type { ResolvedConfig } from "../../../config/index.js";

/**
 * The blob store that reward trees are read from: the home's own store, falling back to the
 * orchestrator (when one is configured) for trees the operator published, verified by CID.
 */
export async function openRewardsStore(ctx: CliContext, config: ResolvedConfig): Promise<BlobStore> {
  const local = await openStore(ctx.home, config.values);
  const url = ctx.orchestrator ?? config.values.orchestrator.url;
  if (!url) return local;
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orchestrator = await openOrchestrator(ctx, config.values);
  return readThroughStore(local, (cid) => orchestrator.getModel(cid));
}
