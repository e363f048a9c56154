import { UserError } from "../errors.js";
import { checkServerState } from "./state.js";
import { boundedWeights } from "./boundedWeights.js";
import type { AggregateResult, ClientUpdate, ServerState, Strategy, StrategyAccumulator, StrategyName, WeightOptions } from "./types.js";
import { assertEnough, assertLength, isFiniteVector, markSeen, validateUpdate, validateUpdates } from "./validate.js";

/**
 * FedAvg (McMahan et al. 2017): the mean of the deltas weighted by each contributor's sample count,
 * `Σ wᵢ·Δᵢ / Σ wᵢ`.
 *
 * Streaming: the accumulator keeps one float32 running sum of `wᵢ·Δᵢ` (O(model) memory whatever
 * the number of contributors) and divides once at the end. Float32 accumulation of n deltas errs by
 * at most about n·2⁻²⁴ of Σ|wᵢ·Δᵢ| per coordinate (≈ 6e-6 for n = 100), far below the noise of SGD
 * itself; a float64 accumulator would double the memory and halve the throughput.
 */
export interface FedAvgAccumulator {
  /**
   * Adds `weight · delta` to the running sum. Validates first (length, finite values, weight > 0)
   * so an invalid delta leaves the sum untouched. The delta is not retained: the caller may reuse
   * its buffer as soon as `add` returns.
   */
  add(delta: Float32Array, weight: number): void;
  /** Number of deltas added. */
  readonly count: number;
  /** Σ weights added. */
  readonly totalWeight: number;
  /**
   * Returns the weighted mean. The returned array is the accumulator's own buffer (no copy), so
   * the accumulator is closed afterwards: further calls to `add` or `finish` throw.
   */
  finish(): Float32Array;
}

/**
 * Creates a streaming FedAvg accumulator for vectors of `length` values: `createMeanAccumulator`
 * without ids, for callers that only have deltas and sample counts.
 * @throws UserError AGGREGATE_BAD_LENGTH when `length` is not a positive integer.
 */
export function createFedAvgAccumulator(length: number): FedAvgAccumulator {
  const acc = createMeanAccumulator(length, "fedavg", (mean) => ({ delta: mean }));
  let totalWeight = 0;
  return {
    add(delta: Float32Array, weight: number): void {
      acc.add({ id: `#${acc.count + 1}`, weight, delta });
      totalWeight += weight;
    },
    get count() {
      return acc.count;
    },
    get totalWeight() {
      return totalWeight;
    },
    finish: () => acc.finish().delta,
  };
}

/**
 * Batch FedAvg over all updates: same arithmetic (and so bit-identical result) as feeding them in
 * order to `createFedAvgAccumulator`.
 * @throws UserError AGGREGATE_TOO_FEW on an empty list; MalformedInputError on invalid updates.
 */
export function aggregateFedAvg(updates: readonly ClientUpdate[]): Float32Array {
  const length = validateUpdates(updates, 1, "fedavg");
  const acc = createFedAvgAccumulator(length);
  for (const u of updates) acc.add(u.delta, u.weight);
  return acc.finish();
}

/**
 * Adapts a FedAvg accumulator to the generic `StrategyAccumulator` (ids checked for duplicates),
 * with `finalize` turning the weighted mean into the strategy's result. Shared by FedAvg, FedProx,
 * FedAvgM and FedAdam, which all stream. Each added weight is clamped to `weightCap` (the cap of
 * `boundedWeights`; Infinity leaves weights as claimed).
 */
export function createMeanAccumulator(
  length: number,
  strategy: string,
  finalize: (mean: Float32Array, ids: string[]) => AggregateResult,
  weightCap = Infinity,
): StrategyAccumulator {
  assertLength(length);
  let sum: Float32Array | undefined = new Float32Array(length);
  let totalWeight = 0;
  const ids: string[] = [];
  const seen = new Set<string>();
  const closed = (): UserError =>
    new UserError(`This ${strategy} accumulator was already finished.`, { code: "AGGREGATE_FINISHED" });
  return {
    add(update: ClientUpdate): void {
      if (sum === undefined) throw closed();
      validateUpdate(update, length);
      markSeen(seen, update.id);
      const weight = Math.min(update.weight, weightCap);
      addScaled(sum, update.delta, weight);
      totalWeight += weight;
      ids.push(update.id);
    },
    get count() {
      return ids.length;
    },
    finish(): AggregateResult {
      if (sum === undefined) throw closed();
      assertEnough(ids.length, 1, strategy);
      const mean = sum;
      sum = undefined;
      scaleInPlace(mean, 1 / totalWeight);
      assertFiniteMean(mean, strategy);
      return finalize(mean, ids);
    },
  };
}

/** The server step of a streaming strategy: turns the round's weighted mean into its result. */
export interface ServerStep {
  /** Moment buffers the step keeps in `ServerState`; a saved state lacking them is refused up front. */
  moments: ReadonlyArray<"m" | "v">;
  apply(mean: Float32Array, state: ServerState | undefined): AggregateResult;
}

/**
 * A streaming `Strategy` over the sample-count weighted mean: FedAvg and FedProx as they are,
 * FedAvgM and FedAdam with their `serverStep` applied to the mean. `aggregate` runs the same
 * accumulator as `createAccumulator`, so both give bit-identical results. Weights are bounded by
 * `boundedWeights` (see `WeightOptions`): a claimed count cannot buy more weight than the cap.
 */
export function createMeanStrategy(
  name: StrategyName,
  params: Readonly<Record<string, number>>,
  serverStep?: ServerStep,
): Strategy {
  return {
    name,
    params,
    streaming: true,
    minUpdates: () => 1,
    aggregate(updates: readonly ClientUpdate[], state?: ServerState, options: WeightOptions = {}): AggregateResult {
      const length = validateUpdates(updates, 1, name);
      const acc = this.createAccumulator(length, state, { ...options, claims: options.claims ?? updates.map((u) => u.weight) });
      for (const u of updates) acc.add(u);
      return acc.finish();
    },
    createAccumulator(length: number, state?: ServerState, options: WeightOptions = {}) {
      if (serverStep !== undefined) checkServerState(state, name, length, serverStep.moments);
      const cap = options.claims !== undefined && options.claims.length > 0
        ? boundedWeights(options.claims, { maxSamples: options.maxSamples }).cap
        : options.maxSamples !== undefined
          ? boundedWeights([options.maxSamples], { maxSamples: options.maxSamples }).cap
          : Infinity;
      return createMeanAccumulator(length, name, (mean, ids) => ({
        ...(serverStep === undefined ? { delta: mean } : serverStep.apply(mean, state)),
        selected: [...ids],
      }), cap);
    },
  };
}

/** FedAvg as a streaming `Strategy`. */
export function createFedAvgStrategy(): Strategy {
  return createMeanStrategy("fedavg", {});
}

/**
 * Every input was finite, but `weight · delta` can still overflow float32 for absurd weights or
 * values; refuse to hand such a mean to the caller rather than poison the global model.
 */
function assertFiniteMean(mean: Float32Array, strategy: string): void {
  if (!isFiniteVector(mean)) {
    throw new UserError(`The ${strategy} weighted sum overflowed float32.`, {
      code: "AGGREGATE_OVERFLOW",
      hint: "Some delta values or sample counts are far out of range; check the delta bounds and sample counts.",
      data: { strategy },
    });
  }
}

/** `acc += w · x`, 4-way unrolled; the hot loop of FedAvg (memory bound). */
function addScaled(acc: Float32Array, x: Float32Array, w: number): void {
  const n = acc.length;
  const n4 = n - (n % 4);
  let i = 0;
  for (; i < n4; i += 4) {
    acc[i] += w * x[i];
    acc[i + 1] += w * x[i + 1];
    acc[i + 2] += w * x[i + 2];
    acc[i + 3] += w * x[i + 3];
  }
  for (; i < n; i++) acc[i] += w * x[i];
}

/** `acc *= s` in place. */
function scaleInPlace(acc: Float32Array, s: number): void {
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] *= s;
}
