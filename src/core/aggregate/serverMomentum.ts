import { checkServerState } from "./state.js";
import type { AggregateResult, ServerState, Strategy, StrategyAccumulator } from "./types.js";

/** Server momentum on top of any robust rule: `m ← β·m + agg`, next = global + η·m. */
export interface ServerMomentumOptions {
  /** Server learning rate η (> 0). */
  serverLr: number;
  /** Momentum β in [0, 1). */
  momentum: number;
}

/**
 * The momentum step shared by FedAvgM and `withServerMomentum`: from the round's aggregate `agg`
 * and the previous buffer (undefined in the first round), a fresh buffer `m = β·prev + agg` and the
 * delta `η·m` to add to the global model.
 */
export function momentumStep(
  agg: Float32Array,
  prev: Float32Array | undefined,
  options: ServerMomentumOptions,
): { m: Float32Array; delta: Float32Array } {
  const m = new Float32Array(agg.length);
  const delta = new Float32Array(agg.length);
  for (let i = 0; i < agg.length; i++) {
    const mi = (prev === undefined ? 0 : options.momentum * prev[i]) + agg[i];
    m[i] = mi;
    delta[i] = options.serverLr * mi;
  }
  return { m, delta };
}

/**
 * `inner` (Krum, Multi-Krum, median, trimmed mean) followed by a server momentum step: the robust
 * rule picks what enters the round's aggregate, momentum then carries the accepted direction
 * across rounds (FedAvgM's remedy for slow progress on non-IID data, Hsu et al. 2019), so poison
 * the rule rejected never enters the buffer. The buffer is the strategy's server state
 * (`state.m`, tagged with the inner strategy's name).
 */
export function withServerMomentum(inner: Strategy, options: ServerMomentumOptions): Strategy {
  const finish = (result: AggregateResult, prev: ServerState | undefined): AggregateResult => {
    const { m, delta } = momentumStep(result.delta, prev?.m, options);
    return { ...result, delta, state: { strategy: inner.name, step: (prev?.step ?? 0) + 1, m } };
  };
  return {
    name: inner.name,
    params: { ...inner.params, "server-lr": options.serverLr, momentum: options.momentum },
    streaming: inner.streaming,
    minUpdates: () => inner.minUpdates(),
    aggregate(updates, state, weightOptions) {
      const prev = checkServerState(state, inner.name, updates[0]?.delta.length ?? 0, ["m"]);
      return finish(inner.aggregate(updates, undefined, weightOptions), prev);
    },
    createAccumulator(length, state, weightOptions): StrategyAccumulator {
      const prev = checkServerState(state, inner.name, length, ["m"]);
      const acc = inner.createAccumulator(length, undefined, weightOptions);
      return {
        add: (update) => acc.add(update),
        get count() {
          return acc.count;
        },
        finish: () => finish(acc.finish(), prev),
      };
    },
  };
}
