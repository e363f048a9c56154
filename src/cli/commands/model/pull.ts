/** `dat model pull --job`. */
import type { CliContext } from "../../context.js";
import type { ModelAuth } from "../../../orchestrator/types.js";
import { parseJobId } from "../job/show.js";

/**
 * The home's wallet as a gated model download's proof, unlocked only when the server asks for it:
 * a public model needs no passphrase.
 */
export function walletModelAuth(ctx: CliContext): ModelAuth {
  return {
    async signChallenge(challenge) {
      const [{ unlockAccount }, { modelAuthOf }] = await Promise.all([import("../../unlock.js"), import("../../../contributor/pull.js")]);
      return modelAuthOf(await unlockAccount(ctx)).signChallenge(challenge);
    },
  };
}

export async function modelPull(ctx: CliContext, opts: { job: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const { openOrchestrator } = await import("../../orchestrator.js");
  const { pullJobModel } = await import("../../../contributor/pull.js");
  const orch = await openOrchestrator(ctx);
  try {
    const pulled = await pullJobModel(orch, ctx.home, jobId, walletModelAuth(ctx));
    ctx.out.result(pulled, (p) => [`${p.cached ? "already had" : "pulled"} ${p.cid} → ${p.dir}`]);
  } finally {
    await orch.close();
  }
}
