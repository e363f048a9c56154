import { createMeanStrategy } from "./fedavg.js";
import { checkServerState } from "./state.js";
import type { AggregateResult, ServerState, Strategy } from "./types.js";

/** Parameters of FedAdam (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2). */
export interface FedAdamOptions {
  /** Server learning rate η. Default 0.01. */
  serverLr: number;
  /** First-moment decay β₁ in [0, 1). Default 0.9. */
  beta1: number;
  /** Second-moment decay β₂ in [0, 1). Default 0.99. */
  beta2: number;
  /** Adaptivity τ > 0 (controls the degree of adaptivity; the paper's best runs use ~1e-3). Default 1e-3. */
  tau: number;
}

/**
 * One FedAdam server step from the weighted mean delta Δ̄ (m, v start at 0, no bias correction,
 * as in the paper and in Flower):
 * `m ← β₁·m + (1−β₁)·Δ̄`, `v ← β₂·v + (1−β₂)·Δ̄²`, result delta `η·m / (√v + τ)`.
 * Pure: returns fresh moment buffers.
 */
export function applyFedAdam(
  mean: Float32Array,
  state: ServerState | undefined,
  options: FedAdamOptions,
): AggregateResult {
  const prev = checkServerState(state, "fedadam", mean.length, ["m", "v"]);
  const { serverLr: lr, beta1: b1, beta2: b2, tau } = options;
  const n = mean.length;
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  const delta = new Float32Array(n);
  const oldM = prev?.m;
  const oldV = prev?.v;
  for (let i = 0; i < n; i++) {
    const g = mean[i];
    const mi = (oldM === undefined ? 0 : b1 * oldM[i]) + (1 - b1) * g;
    const vi = (oldV === undefined ? 0 : b2 * oldV[i]) + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    delta[i] = (lr * mi) / (Math.sqrt(vi) + tau);
  }
  return { delta, state: { strategy: "fedadam", step: (prev?.step ?? 0) + 1, m, v } };
}

/** FedAdam as a streaming `Strategy` (weighted mean, then `applyFedAdam`). */
export function createFedAdamStrategy(options: FedAdamOptions): Strategy {
  return createMeanStrategy("fedadam", { "server-lr": options.serverLr, beta1: options.beta1, beta2: options.beta2, tau: options.tau }, {
    moments: ["m", "v"],
    apply: (mean, state) => applyFedAdam(mean, state, options),
  });
}
