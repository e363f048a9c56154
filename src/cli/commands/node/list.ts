/** `dat node list`: registered nodes with when each was last heard from, its backend and its rounds. */
import type { CliContext } from "../../context.js";
import { formatTable } from "../../output.js";

/** "12s ago", "5m ago", "3h ago", "2d ago". */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export async function nodeList(ctx: CliContext): Promise<void> {
  const { openOrchestrator } = await import("../../orchestrator.js");
  const orch = await openOrchestrator(ctx);
  try {
    const nodes = await orch.listNodes();
    const now = Date.now();
    ctx.out.result(nodes, (list) => list.length === 0 ? ["No nodes registered."] : formatTable(["address", "last seen", "backend", "rounds", "cpus", "registered"],
      list.map((n) => [
        n.address, n.lastSeenAt === undefined ? "-" : ago(n.lastSeenAt, now), String(n.metadata.backend ?? "-"),
        String(n.roundsContributed ?? "-"), String(n.metadata.cpus ?? "-"), new Date(n.registeredAt).toISOString(),
      ])));
  } finally {
    await orch.close();
  }
}
