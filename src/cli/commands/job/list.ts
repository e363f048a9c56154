/** `dat job list`. */
import type { CliContext } from "../../context.js";
import { formatTable } from "../../output.js";
import { formatPercent } from "../../format.js";

export async function jobList(ctx: CliContext): Promise<void> {
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orch = await openOrchestrator(ctx);
  try {
    const jobs = await orch.listJobs();
    ctx.out.result(jobs, (list) => list.length === 0 ? ["No jobs yet: dat job create --model <dir> …"] : formatTable(
      ["id", "name", "strategy", "rounds", "min", "encoding", "last accuracy", "model"],
      list.map((j) => {
        const last = [...j.history].reverse().find((h) => h.accuracy !== undefined);
        return [j.id, j.name ?? "-", j.strategy, `${j.publishedRounds}/${j.rounds}`, j.minContributors, j.encoding, formatPercent(last?.accuracy), j.modelCid];
      }),
    ));
  } finally {
    await orch.close();
  }
}
