/** `dat node list`. */
import type { CliContext } from "../../context.js";
import { formatTable } from "../../output.js";

export async function nodeList(ctx: CliContext): Promise<void> {
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orch = await openOrchestrator(ctx);
  try {
    const nodes = await orch.listNodes();
    ctx.out.result(nodes, (list) => list.length === 0 ? ["No nodes registered."] : formatTable(["address", "backend", "cpus", "registered"],
      list.map((n) => [n.address, String(n.metadata.backend ?? "-"), String(n.metadata.cpus ?? "-"), new Date(n.registeredAt).toISOString()])));
  } finally {
    await orch.close();
  }
}
