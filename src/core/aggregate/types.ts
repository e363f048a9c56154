/**
 * Shared types of the aggregation strategies. Everything here is a flat Float32Array: the caller
 * flattens the model's weight tensors in one fixed order (the order of the model's weight list)
 * before aggregating and unflattens the result the same way.
 *
 * Convention: a delta is `trained − global`; the aggregate `delta` is what the caller adds to the
 * current global model to get the next one (`next = global + result.delta`).
 */

/** The strategy names accepted by `dat job create --strategy`. */
export const STRATEGY_NAMES = [
  "fedavg",
  "fedprox",
  "fedavgm",
  "fedadam",
  "median",
  "trimmed-mean",
  "krum",
  "multi-krum",
  "centered-clip",
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** One accepted submission, already opened, decoded and flattened. */
export interface ClientUpdate {
  /** Stable id of the contributor (address or submission id); echoed in `selected`. */
  id: string;
  /** Number of training samples behind the delta (FedAvg weight); must be > 0. */
  weight: number;
  /** `trained − global`, flattened. */
  delta: Float32Array;
}

/**
 * Server-optimizer state persisted by the caller between rounds (FedAvgM, FedAdam). Pure data:
 * the caller stores the arrays (e.g. as blobs) and passes them back next round unchanged.
 */
export interface ServerState {
  /** The strategy that produced this state; a state from another strategy is rejected. */
  strategy: StrategyName;
  /** Number of server steps taken so far (1 after the first aggregation). */
  step: number;
  /** First moment / momentum buffer (FedAvgM velocity, FedAdam m). */
  m?: Float32Array;
  /** Second moment (FedAdam v). */
  v?: Float32Array;
}

/** The outcome of one aggregation. */
export interface AggregateResult {
  /** Delta to add to the current global model. A fresh array the caller owns. */
  delta: Float32Array;
  /** New server state to persist (server-optimizer strategies only). */
  state?: ServerState;
  /** Ids of the updates that entered the aggregate (Krum / Multi-Krum: the selected ones). */
  selected?: string[];
}

/**
 * Incremental form of a strategy: feed updates one at a time, then `finish()` once.
 * For streaming strategies (`Strategy.streaming`) memory stays O(model size) and `add` copies what
 * it needs, so the caller may reuse or drop the delta buffer right after `add` returns. Robust
 * strategies (median, trimmed mean, Krum) need every update at once: their accumulator keeps a
 * reference to each delta (O(contributors × model)) and the caller must not mutate them.
 */
export interface StrategyAccumulator {
  /** Adds one update; throws MalformedInputError (nothing is added) when it is invalid. */
  add(update: ClientUpdate): void;
  /** Number of updates added so far. */
  readonly count: number;
  /** Computes the aggregate; throws UserError when too few updates were added. Call once. */
  finish(): AggregateResult;
}

/**
 * How the FedAvg-family strategies (fedavg, fedprox, fedavgm, fedadam) bound self-reported sample
 * counts (see `boundedWeights`). Robust strategies weigh every update equally and ignore this.
 */
export interface WeightOptions {
  /**
   * Every claimed sample count of the round, when the caller knows them before aggregating (the
   * orchestrator does: they are in the signed submissions). A streaming accumulator needs them up
   * front to compute the cap `min(maxSamples, 2 × median(claims))`; `aggregate` defaults them to
   * the updates' weights.
   */
  claims?: readonly number[];
  /** The job's `--max-samples` cap. */
  maxSamples?: number;
}

/** One aggregation strategy, built by `createStrategy(name, params)`. */
export interface Strategy {
  readonly name: StrategyName;
  /** Parsed parameters with their defaults filled in (for the job record and `dat job show`). */
  readonly params: Readonly<Record<string, number>>;
  /** True when `createAccumulator` runs in O(model) memory regardless of the number of updates. */
  readonly streaming: boolean;
  /** Smallest number of updates this strategy can aggregate (Krum needs n ≥ 2f + 3). */
  minUpdates(): number;
  /**
   * Aggregates all updates at once. `state` is the previous round's `result.state`, if any.
   * Weighted strategies bound the weights with `boundedWeights(options.claims ?? weights, options)`.
   */
  aggregate(updates: readonly ClientUpdate[], state?: ServerState, options?: WeightOptions): AggregateResult;
  /**
   * Starts an incremental aggregation of vectors of `length` values. Weighted strategies clamp each
   * added weight to the cap of `boundedWeights(options.claims, options)`; without `claims` only
   * `maxSamples` bounds them, so a caller that streams must pass the round's claims.
   */
  createAccumulator(length: number, state?: ServerState, options?: WeightOptions): StrategyAccumulator;
}
