import { aggregateFedAvg, createMeanAccumulator } from "./fedavg.js";
import type { AggregateResult, ClientUpdate, Strategy } from "./types.js";
import { validateUpdates } from "./validate.js";

/** Parameters of FedProx. */
export interface FedProxOptions {
  /**
   * Proximal coefficient μ (Li et al. 2020, "Federated Optimization in Heterogeneous Networks").
   * Used by the CLIENT only: local training minimises `loss(w) + (μ/2)·‖w − w_global‖²`, which
   * keeps heterogeneous clients from drifting far from the global model. The orchestrator stores
   * μ with the job and hands it to `dat train`; the server side is plain FedAvg.
   */
  mu: number;
}

/**
 * FedProx, server side: identical to FedAvg (sample-count weighted mean), streaming.
 * The μ proximal term lives in the client's training loss; see `FedProxOptions.mu`.
 */
export function createFedProxStrategy(options: FedProxOptions): Strategy {
  return {
    name: "fedprox",
    params: { mu: options.mu },
    streaming: true,
    minUpdates: () => 1,
    aggregate(updates: readonly ClientUpdate[]): AggregateResult {
      validateUpdates(updates, 1, "fedprox");
      return { delta: aggregateFedAvg(updates), selected: updates.map((u) => u.id) };
    },
    createAccumulator(length: number) {
      return createMeanAccumulator(length, "fedprox", (mean, ids) => ({ delta: mean, selected: [...ids] }));
    },
  };
}
