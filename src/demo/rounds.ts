/**
 * The demo's rounds: open, every contributor trains and contributes through the contributors'
 * pipeline, close and aggregate, then settle on chain (one transaction per round).
 */
import { DatError, OperationFailedError } from "../core/errors.js";
import { privacySpent } from "../core/privacy/spent.js";
import type { DemoOptions } from "./options.js";
import type { DemoRound, DemoScore, DemoSubmission } from "./types.js";
import type { DemoEmit, DemoHooks } from "./hooks.js";
import type { DemoNetwork } from "./network.js";

/** Runs every round of the job; throws the typed error of a round that did not publish. */
export async function runDemoRounds(net: DemoNetwork, options: DemoOptions, hooks: DemoHooks, emit: DemoEmit) {
  const { orchestrator, jobId, clients, demoContributors, launched, operator, rewardPerRound } = net;
  // --- rounds --------------------------------------------------------------------------------
  const { connectChain } = await import("../chain/clients.js");
  const { settleRound } = await import("../chain/settle.js");
  const { getRoundEcon } = await import("../db/econ.js");
  const operatorChain = await connectChain({ rpcUrl: launched.url, account: operator.account });
  const byAddress = new Map(demoContributors.map((c) => [c.address.toLowerCase(), c]));
  const rounds: DemoRound[] = [];
  for (let r = 1; r <= options.rounds; r++) {
    const roundStarted = Date.now();
    const info = await orchestrator.openRound(jobId);
    emit("round.open", { round: info.round, modelCid: info.modelCid });
    const submissions: DemoSubmission[] = [];
    for (const [i, client] of clients.entries()) {
      const poisoned = demoContributors[i].attack !== undefined;
      let sub: DemoSubmission;
      try {
        const pushed = await client.trainAndPush(jobId);
        sub = { contributor: demoContributors[i].name, address: demoContributors[i].address, samples: pushed.sampleCount, trainLoss: pushed.trainLoss, poisoned };
      } catch (error) {
        // An attacker slashed in an earlier round has no stake left: the orchestrator refuses it,
        // which is the defence working, not a failed demo. Anything else still fails the run.
        if (!(poisoned && error instanceof DatError && error.code === "STAKE_TOO_LOW")) throw error;
        sub = { contributor: demoContributors[i].name, address: demoContributors[i].address, samples: 0, poisoned, refused: error.code };
      }
      submissions.push(sub);
      hooks.submission?.(info.round, sub);
    }
    emit("round.close", { round: info.round });
    const closed = await orchestrator.closeRound(jobId);
    const metrics = closed.metrics ?? {};
    const round: DemoRound = {
      round: closed.round,
      state: closed.state,
      submissions,
      accuracy: typeof metrics.accuracy === "number" ? metrics.accuracy : undefined,
      loss: typeof metrics.loss === "number" ? metrics.loss : undefined,
      modelCid: closed.modelCid ?? undefined,
      scores: [],
      durationMs: 0,
      // What each contributor has spent so far, as the orchestrator reports it to contributors.
      ...(options.dpClip !== undefined ? { privacy: privacySpent({ clip: options.dpClip, noise: options.dpNoise ?? 0 }, closed.round) } : {}),
    };
    if (closed.state === "published" && closed.modelCid) {
      emit("round.settle", { round: closed.round });
      const settled = await settleRound({
        db: orchestrator.db,
        store: orchestrator.store,
        publicClient: operatorChain.publicClient,
        walletClient: operatorChain.walletClient!,
        distributor: launched.contracts.distributor,
        jobId,
        round: closed.round,
        modelCid: closed.modelCid,
        rewardTotal: rewardPerRound,
        scores: closed.scores.map((s) => ({ address: s.address, score: s.score })),
        // The close's slashable evidence (zero, exact free-ride, copies): those stakes are slashed in this transaction.
        slashes: getRoundEcon(orchestrator.db, jobId, closed.round).slashes as `0x${string}`[],
      });
      round.txHash = settled.txHash ?? undefined;
      const paid = new Map(settled.amounts.map((a) => [a.address.toLowerCase(), a.amount]));
      round.scores = closed.scores.map((s): DemoScore => ({
        contributor: byAddress.get(s.address.toLowerCase())?.name ?? s.address,
        address: byAddress.get(s.address.toLowerCase())?.address ?? s.address,
        score: s.score,
        reward: (paid.get(s.address.toLowerCase()) ?? 0n).toString(),
      }));
    }
    round.durationMs = Date.now() - roundStarted;
    rounds.push(round);
    hooks.round?.(round, rounds);
    if (closed.state !== "published") {
      throw new OperationFailedError(`Round ${closed.round} did not publish: ${closed.failureReason ?? closed.state}.`, {
        code: "DEMO_ROUND_FAILED",
        hint: "Try another --strategy or fewer --attackers.",
        data: { round: closed.round, reason: closed.failureReason },
      });
    }
  }

  return { rounds, operatorChain };
}
