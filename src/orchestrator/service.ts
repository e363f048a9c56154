/**
 * `dat round start`: one whole round — open (or resume the active one), wait with a live count
 * until min-contributors or the deadline, close and aggregate, then settle on chain when a
 * deployment is configured. Without chain configuration the round publishes locally and the
 * settlement is reported as skipped.
 */
import type { CliContext } from "../cli/context.js";
import { decideClose, isActive } from "../core/round.js";
import { connectOrchestrator } from "./connect.js";
import type { CloseRoundResult, Hex, Orchestrator } from "./types.js";

export interface RunRoundOptions {
  jobId: number;
  deadlineSeconds?: number;
  /** How often the count is polled, ms. */
  pollMs?: number;
  onProgress?: (p: { round: number; accepted: number; minContributors: number; remainingMs: number }) => void;
  now?: () => number;
}

export interface RunRoundResult extends CloseRoundResult {
  settlement: { status: "published" | "skipped" | "failed"; reason?: string; txHash?: string | null; error?: string };
}

/** Runs one round to its end; never throws for a round that merely failed (see result.state). */
export async function runRound(ctx: CliContext, options: RunRoundOptions, orchestrator?: Orchestrator): Promise<RunRoundResult> {
  const orch = orchestrator ?? (await connectOrchestrator(ctx));
  const now = options.now ?? Date.now;
  try {
    const existing = await orch.roundStatus(options.jobId).catch(() => undefined);
    let roundNumber: number;
    if (existing && isActive(existing.state)) {
      roundNumber = existing.round; // resume the active round (after a crash or a Ctrl-C)
    } else {
      roundNumber = (await orch.openRound(options.jobId, { deadlineSeconds: options.deadlineSeconds })).round;
    }
    // A job's settings never change: read them once, not on every poll.
    const job = await orch.getJob(options.jobId);
    let result: CloseRoundResult;
    for (;;) {
      const status = await orch.roundStatus(options.jobId, roundNumber);
      const decision = decideClose({
        state: status.state, accepted: status.accepted, minContributors: status.minContributors,
        maxContributors: job.maxContributors, deadline: status.deadline, now: now(),
      });
      if (decision.action === "wait") {
        options.onProgress?.({ round: roundNumber, accepted: status.accepted, minContributors: status.minContributors, remainingMs: decision.remainingMs });
        await new Promise((r) => setTimeout(r, Math.min(options.pollMs ?? 500, decision.remainingMs + 1)));
        continue;
      }
      if (decision.action === "fail") {
        result = await orch.failRound(options.jobId, decision.reason);
        break;
      }
      if (decision.action === "none") {
        result = {
          jobId: options.jobId, round: roundNumber, state: status.state, modelCid: status.modelCid, failureReason: status.failureReason,
          metrics: status.metrics, rejected: [],
          scores: status.submissions.filter((s) => s.status === "aggregated").map((s) => ({ address: s.address, sampleCount: s.sampleCount, score: s.score ?? 0 })),
        };
        break;
      }
      result = await orch.closeRound(options.jobId);
      break;
    }
    if (result.state !== "published") return { ...result, settlement: { status: "skipped", reason: "round not published" } };
    return { ...result, settlement: await settle(ctx, result) };
  } finally {
    if (!orchestrator) await orch.close();
  }
}

async function settle(ctx: CliContext, result: CloseRoundResult): Promise<RunRoundResult["settlement"]> {
  const { loadConfig } = await import("../config/index.js");
  const config = (await loadConfig(ctx)).values;
  if (Object.keys(config.chain.deployments).length === 0) {
    return { status: "skipped", reason: "no chain deployment configured (dat devnet or dat chain deploy)" };
  }
  if (ctx.orchestrator) return { status: "skipped", reason: "settlement runs in the orchestrator's home, not over --orchestrator" };
  try {
    const { openDatabase } = await import("../db/index.js");
    const { getJob } = await import("../db/jobs.js");
    const { unlockAccount } = await import("../cli/unlock.js");
    const { connectConfiguredChain } = await import("../chain/clients.js");
    const { settleRound } = await import("../chain/settle.js");
    const { openStore } = await import("../store/index.js");
    const account = await unlockAccount(ctx);
    const chain = await connectConfiguredChain(config, { account });
    const store = await openStore(ctx.home, config);
    const db = openDatabase(ctx.home);
    try {
      const job = getJob(db, result.jobId)!;
      const settled = await settleRound({
        db, store, publicClient: chain.publicClient, walletClient: chain.walletClient!, distributor: chain.deployment.distributor as Hex,
        jobId: result.jobId, round: result.round, modelCid: result.modelCid!, rewardTotal: BigInt(job.rewardPerRound),
        scores: result.scores.map((s) => ({ address: s.address, score: s.score })),
      });
      return { status: "published", txHash: settled.txHash };
    } finally {
      db.close();
    }
  } catch (error) {
    return { status: "failed", error: (error as Error).message };
  }
}
