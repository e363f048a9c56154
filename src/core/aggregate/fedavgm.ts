import { createMeanStrategy } from "./fedavg.js";
import { momentumStep } from "./serverMomentum.js";
import { checkServerState } from "./state.js";
import type { AggregateResult, ServerState, Strategy } from "./types.js";

/** Parameters of FedAvgM (Hsu et al. 2019, "Measuring the Effects of Non-Identical Data…"). */
export interface FedAvgMOptions {
  /** Server learning rate η. Default 0.1 = 1 − β, so the long-run step η/(1 − β) equals FedAvg's. */
  serverLr: number;
  /** Server momentum β in [0, 1). Default 0.9. */
  momentum: number;
}

/**
 * One FedAvgM server step from the weighted mean delta Δ̄:
 * `m ← β·m + Δ̄`, result delta `η·m` (m starts at 0). Pure: returns a fresh momentum buffer.
 * (Flower writes the same step with the pseudo-gradient −Δ̄ and `w ← w − η·m`.)
 */
export function applyFedAvgM(
  mean: Float32Array,
  state: ServerState | undefined,
  options: FedAvgMOptions,
): AggregateResult {
  const prev = checkServerState(state, "fedavgm", mean.length, ["m"]);
  const { m, delta } = momentumStep(mean, prev?.m, options);
  return { delta, state: { strategy: "fedavgm", step: (prev?.step ?? 0) + 1, m } };
}

/** FedAvgM as a streaming `Strategy` (weighted mean, then `applyFedAvgM`). */
export function createFedAvgMStrategy(options: FedAvgMOptions): Strategy {
  return createMeanStrategy("fedavgm", { "server-lr": options.serverLr, momentum: options.momentum }, {
    moments: ["m"],
    apply: (mean, state) => applyFedAvgM(mean, state, options),
  });
}
