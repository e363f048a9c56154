import { createMeanStrategy } from "./fedavg.js";
import type { Strategy } from "./types.js";

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
  return createMeanStrategy("fedprox", { mu: options.mu });
}
