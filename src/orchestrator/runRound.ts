/**
 * `dat round start`: one whole round — open (or resume the active one), wait with a live count
 * until min-contributors or the deadline, close and aggregate, then settle on chain when a
 * deployment is configured. Without chain configuration the round publishes locally and the
 * settlement is reported as skipped.
 */
import type { LocalAccount } from "viem";
import type { DatConfig } from "../config/schema.js";
import { decideClose, isActive } from "../core/round.js";
import type { CloseRoundResult, Hex, Orchestrator } from "./types.js";

export interface RunRoundOptions {
  jobId: number;
  deadlineSeconds?: number;
  /** How often the count is polled, ms. */
  pollMs?: number;
  onProgress?: (p: { round: number; accepted: number; minContributors: number; remainingMs: number }) => void;
  now?: () => number;
  /** Settles a published round (see settleOnChain); without one the settlement is reported as skipped. */
  settle?: RoundSettler;
}

export type RoundSettlement = RunRoundResult["settlement"];
/** Settles one published round; reports a failure in its result rather than throwing. */
export type RoundSettler = (result: CloseRoundResult) => Promise<RoundSettlement>;

export interface RunRoundResult extends CloseRoundResult {
  settlement: { status: "published" | "skipped" | "failed"; reason?: string; txHash?: string | null; error?: string };
}

/** Runs one round to its end; never throws for a round that merely failed (see result.state). */
export async function runRound(orch: Orchestrator, options: RunRoundOptions): Promise<RunRoundResult> {
  const now = options.now ?? Date.now;
  {
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
    if (!options.settle) return { ...result, settlement: { status: "skipped", reason: "no settlement configured" } };
    return { ...result, settlement: await options.settle(result) };
  }
}

export interface SettleOnChainOptions {
  /** The orchestrator's home: its database and store hold the round's scores and model. */
  home: string;
  config: DatConfig;
  /** The operator's unlocked wallet, which sends the publish transaction. */
  account: LocalAccount;
}

/** Publishes a closed round on chain (model CID, reward root, total) in one transaction. */
export function settleOnChain(options: SettleOnChainOptions): RoundSettler {
  return async (result) => {
    try {
      const { openDatabase } = await import("../db/index.js");
      const { getJob } = await import("../db/jobs.js");
      const { connectConfiguredChain } = await import("../chain/clients.js");
      const { settleRound } = await import("../chain/settle.js");
      const { openStore } = await import("../store/index.js");
      const chain = await connectConfiguredChain(options.config, { account: options.account });
      const store = await openStore(options.home, options.config);
      const db = openDatabase(options.home);
      try {
        const job = getJob(db, result.jobId)!;
        // The slash list was fixed at close (round_econ): a retry slashes the same addresses, and
        // the contract publishes (and slashes) a round once.
        const { getRoundEcon } = await import("../db/econ.js");
        const slashes = getRoundEcon(db, result.jobId, result.round).slashes as Hex[];
        const settled = await settleRound({
          db, store, publicClient: chain.publicClient, walletClient: chain.walletClient!, distributor: chain.deployment.distributor as Hex,
          jobId: result.jobId, round: result.round, modelCid: result.modelCid!, rewardTotal: BigInt(job.rewardPerRound),
          scores: result.scores.map((s) => ({ address: s.address, score: s.score })),
          slashes,
        });
        return { status: "published", txHash: settled.txHash };
      } finally {
        db.close();
      }
    } catch (error) {
      return { status: "failed", error: (error as Error).message };
    }
  };
}
