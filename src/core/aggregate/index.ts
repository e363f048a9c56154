/**
 * Aggregation strategies: pure functions over flat Float32Array deltas (no tfjs, no I/O).
 *
 * Typical use by the orchestrator:
 * ```ts
 * const strategy = createStrategy(job.strategy, job.strategyParams);    // validated once, at job create
 * const acc = strategy.createAccumulator(model.length, savedState);      // O(model) when strategy.streaming
 * for (const s of accepted) acc.add({ id: s.address, weight: s.samples, delta: s.flatDelta });
 * const { delta, state, selected } = acc.finish();                        // next = global + delta
 * ```
 */
import { UserError } from "../errors.js";
import { createCenteredClipStrategy } from "./centeredClip.js";
import { createFedAdamStrategy } from "./fedadam.js";
import { createBufferedAccumulator } from "./buffered.js";
import { createFedAvgStrategy } from "./fedavg.js";
import { createFedAvgMStrategy } from "./fedavgm.js";
import { createFedProxStrategy } from "./fedprox.js";
import { createKrumStrategy, createMultiKrumStrategy } from "./krum.js";
import { createMedianStrategy } from "./median.js";
import { withServerMomentum } from "./serverMomentum.js";
import { createTrimmedMeanStrategy } from "./trimmedMean.js";
import { STRATEGY_NAMES, type Strategy, type StrategyName } from "./types.js";

export * from "./types.js";
export { aggregateFedAvg, createFedAvgAccumulator, createFedAvgStrategy, type FedAvgAccumulator } from "./fedavg.js";
export { createFedProxStrategy, type FedProxOptions } from "./fedprox.js";
export { applyFedAvgM, createFedAvgMStrategy, type FedAvgMOptions } from "./fedavgm.js";
export { applyFedAdam, createFedAdamStrategy, type FedAdamOptions } from "./fedadam.js";
export { aggregateMedian, createMedianStrategy } from "./median.js";
export { aggregateTrimmedMean, createTrimmedMeanStrategy, type TrimmedMeanOptions } from "./trimmedMean.js";
export {
  aggregateKrum,
  createKrumStrategy,
  createMultiKrumStrategy,
  duplicateGroups,
  KRUM_DUPLICATE_TOLERANCE,
  pairwiseSquaredDistances,
  resolveKrumF,
  krumMinUpdates,
  type KrumOptions,
  type KrumResult,
} from "./krum.js";
export { isFiniteVector, validateUpdate, validateUpdates } from "./validate.js";
export {
  boundedWeights,
  DEFAULT_WEIGHT_MULTIPLE,
  type BoundedWeightsOptions,
  type BoundedWeightsResult,
} from "./boundedWeights.js";
export {
  aggregateCenteredClip,
  createCenteredClipStrategy,
  type CenteredClipOptions,
  type CenteredClipResult,
} from "./centeredClip.js";
export { momentumStep, withServerMomentum, type ServerMomentumOptions } from "./serverMomentum.js";
export { createBufferedAccumulator };

/**
 * Raw strategy parameters: the strings of `--strategy-param k=v` (see `parseStrategyParams`), or
 * numbers such as a stored `Strategy.params` (so a job record round-trips through `createStrategy`).
 */
export type StrategyParamsInput = Readonly<Record<string, string | number>>;

/** One accepted `--strategy-param` key: its meaning, range and default. */
export interface StrategyParamSpec {
  description: string;
  /** Default value; undefined means "derived from the number of updates" (Krum's f and m). */
  default?: number;
  integer?: boolean;
  min: number;
  /** Whether `min` itself is allowed. */
  minInclusive: boolean;
  max?: number;
  /** Whether `max` itself is allowed. */
  maxInclusive?: boolean;
}

/** The `--strategy-param` keys each strategy accepts (for validation and `dat job create --help`). */
export const STRATEGY_PARAMS: Readonly<Record<StrategyName, Readonly<Record<string, StrategyParamSpec>>>> = {
  fedavg: {},
  fedprox: {
    mu: { description: "proximal coefficient μ used by contributors' local training", default: 0.01, min: 0, minInclusive: true },
  },
  fedavgm: {
    "server-lr": { description: "server learning rate η", default: 0.1, min: 0, minInclusive: false },
    momentum: { description: "server momentum β", default: 0.9, min: 0, minInclusive: true, max: 1, maxInclusive: false },
  },
  fedadam: {
    "server-lr": { description: "server learning rate η", default: 0.01, min: 0, minInclusive: false },
    beta1: { description: "first-moment decay β₁", default: 0.9, min: 0, minInclusive: true, max: 1, maxInclusive: false },
    beta2: { description: "second-moment decay β₂", default: 0.99, min: 0, minInclusive: true, max: 1, maxInclusive: false },
    tau: { description: "adaptivity τ", default: 1e-3, min: 0, minInclusive: false },
  },
  median: {
    "server-lr": { description: "server learning rate η applied to the robust aggregate's momentum buffer (default 1 = off with momentum 0)", min: 0, minInclusive: false },
    momentum: { description: "server momentum β over the robust aggregate (default 0 = none)", min: 0, minInclusive: true, max: 1, maxInclusive: false },
  },
  "trimmed-mean": {
    beta: { description: "fraction trimmed on each side", default: 0.1, min: 0, minInclusive: true, max: 0.5, maxInclusive: false },
    "server-lr": { description: "server learning rate η applied to the robust aggregate's momentum buffer (default 1 = off with momentum 0)", min: 0, minInclusive: false },
    momentum: { description: "server momentum β over the robust aggregate (default 0 = none)", min: 0, minInclusive: true, max: 1, maxInclusive: false },
  },
  krum: {
    f: { description: "Byzantine updates tolerated (default ⌊(n−3)/2⌋)", integer: true, min: 0, minInclusive: true },
    fraction: { description: "Byzantine share tolerated when f is not given: f = min(⌊fraction·n⌋, ⌊(n−3)/2⌋) per round", min: 0, minInclusive: true, max: 0.5, maxInclusive: false },
    "server-lr": { description: "server learning rate η applied to the robust aggregate's momentum buffer (default 1 = off with momentum 0)", min: 0, minInclusive: false },
    momentum: { description: "server momentum β over the robust aggregate (default 0 = none)", min: 0, minInclusive: true, max: 1, maxInclusive: false },
  },
  "multi-krum": {
    f: { description: "Byzantine updates tolerated (default ⌊(n−3)/2⌋)", integer: true, min: 0, minInclusive: true },
    fraction: { description: "Byzantine share tolerated when f is not given: f = min(⌊fraction·n⌋, ⌊(n−3)/2⌋) per round", min: 0, minInclusive: true, max: 0.5, maxInclusive: false },
    m: { description: "updates selected and averaged (default n − f)", integer: true, min: 1, minInclusive: true },
    "server-lr": { description: "server learning rate η applied to the robust aggregate's momentum buffer (default 1 = off with momentum 0)", min: 0, minInclusive: false },
    momentum: { description: "server momentum β over the robust aggregate (default 0 = none)", min: 0, minInclusive: true, max: 1, maxInclusive: false },
  },
  "centered-clip": {
    tau: { description: "clipping radius τ (default: median distance of the bucket means, per iteration)", min: 0, minInclusive: false },
    iterations: { description: "centered-clipping iterations", default: 3, integer: true, min: 1, minInclusive: true, max: 100, maxInclusive: true },
    bucket: { description: "bucket size s (updates averaged per bucket; 1 = no bucketing)", default: 1, integer: true, min: 1, minInclusive: true },
    seed: { description: "seed of the bucket permutation", default: 0, integer: true, min: 0, minInclusive: true, max: 4294967295, maxInclusive: true },
  },
};

/**
 * What `--strategy robust` means (job create and the demo): Multi-Krum tolerating 30% of each
 * round's updates, then server momentum 0.7 over what it kept. Chosen by the learning benchmark
 * (README "Learning benchmark": Fashion-MNIST, 10 non-IID clients, 2 attackers, 20 rounds):
 * momentum closes most of the gap to centralized training that plain averaging leaves, and
 * tolerating 3 of 10 rather than 2 keeps sign-flipped updates out of the momentum buffer, where
 * one that slipped through would be carried into later rounds.
 */
export const ROBUST_STRATEGY: { readonly strategy: StrategyName; readonly params: Readonly<Record<string, string>> } = {
  strategy: "multi-krum",
  params: { fraction: "0.3", momentum: "0.7" },
};

/**
 * A strategy as a user names it: `robust` becomes ROBUST_STRATEGY, its parameters under the given
 * ones (a given key wins); any other name is returned as given (createStrategy validates it).
 */
export function resolveStrategyChoice(name: string, params: Readonly<Record<string, string>>): { strategy: string; params: Record<string, string> } {
  return name === "robust"
    ? { strategy: ROBUST_STRATEGY.strategy, params: { ...ROBUST_STRATEGY.params, ...params } }
    : { strategy: name, params: { ...params } };
}

/** True when `name` is one of `STRATEGY_NAMES`. */
export function isStrategyName(name: string): name is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(name);
}

/**
 * Parses repeated `--strategy-param k=v` values into a record (keys kept as written; values trimmed).
 * @throws UserError STRATEGY_BAD_PARAM naming the bad entry (no `=`, empty key or value, repeated key).
 */
export function parseStrategyParams(entries: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries ?? []) {
    const eq = entry.indexOf("=");
    const key = eq < 0 ? entry.trim() : entry.slice(0, eq).trim();
    const value = eq < 0 ? "" : entry.slice(eq + 1).trim();
    if (eq < 0 || key === "" || value === "") {
      throw badParam(`Strategy parameter "${entry}" is not of the form key=value.`, key || entry, "--strategy-param momentum=0.9");
    }
    if (Object.prototype.hasOwnProperty.call(out, key)) {
      throw badParam(`Strategy parameter "${key}" is given twice.`, key, "Give each --strategy-param key once.");
    }
    out[key] = value;
  }
  return out;
}

/**
 * Builds a strategy from its CLI name and `--strategy-param` values, validating every parameter
 * (unknown key, not a number, out of range, not an integer where one is needed) and filling in
 * defaults. Keys may be written kebab-case, snake_case or camelCase (`server-lr`, `server_lr`, `serverLr`).
 * @throws UserError STRATEGY_UNKNOWN / STRATEGY_BAD_PARAM (data.param names the parameter).
 */
export function createStrategy(name: string, params: StrategyParamsInput = {}): Strategy {
  if (!isStrategyName(name)) {
    throw new UserError(`Unknown aggregation strategy "${name}".`, {
      code: "STRATEGY_UNKNOWN",
      hint: `Use one of: ${STRATEGY_NAMES.join(", ")}.`,
      data: { strategy: name },
    });
  }
  const p = resolveStrategyParams(name, params);
  switch (name) {
    case "fedavg":
      return createFedAvgStrategy();
    case "fedprox":
      return createFedProxStrategy({ mu: p.mu });
    case "fedavgm":
      return createFedAvgMStrategy({ serverLr: p["server-lr"], momentum: p.momentum });
    case "fedadam":
      return createFedAdamStrategy({ serverLr: p["server-lr"], beta1: p.beta1, beta2: p.beta2, tau: p.tau });
    case "median":
      return withMomentumIfAsked(createMedianStrategy(), p);
    case "trimmed-mean":
      return withMomentumIfAsked(createTrimmedMeanStrategy({ beta: p.beta }), p);
    case "krum":
      return withMomentumIfAsked(createKrumStrategy({ f: p.f, fraction: p.fraction }), p);
    case "multi-krum":
      return withMomentumIfAsked(createMultiKrumStrategy({ f: p.f, m: p.m, fraction: p.fraction }), p);
    case "centered-clip":
      return createCenteredClipStrategy({ tau: p.tau, iterations: p.iterations, bucket: p.bucket, seed: p.seed });
  }
}

/**
 * Validates `params` for strategy `name` and returns them as numbers with defaults filled in
 * (keys normalised to their kebab-case spelling). Params without default stay absent when not given.
 * @throws UserError STRATEGY_BAD_PARAM naming the parameter.
 */
export function resolveStrategyParams(name: StrategyName, params: StrategyParamsInput): Record<string, number> {
  const specs = STRATEGY_PARAMS[name];
  const out: Record<string, number> = {};
  for (const [key, spec] of Object.entries(specs)) if (spec.default !== undefined) out[key] = spec.default;
  const given = new Set<string>();
  for (const [rawKey, rawValue] of Object.entries(params)) {
    const key = normaliseKey(rawKey);
    const spec = Object.prototype.hasOwnProperty.call(specs, key) ? specs[key] : undefined;
    if (spec === undefined) {
      const accepted = Object.keys(specs);
      throw badParam(
        `Strategy ${name} has no parameter "${rawKey}".`,
        rawKey,
        accepted.length === 0 ? `${name} takes no parameters.` : `Accepted: ${accepted.join(", ")}.`,
      );
    }
    if (given.has(key)) throw badParam(`Strategy parameter "${key}" is given twice.`, rawKey, "Give each key once.");
    given.add(key);
    const text = String(rawValue).trim();
    const value = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isFinite(value)) {
      throw badParam(`Strategy parameter ${key}="${rawValue}" is not a number.`, rawKey, `Example: ${key}=${spec.default ?? 1}`);
    }
    if (spec.integer && !Number.isSafeInteger(value)) {
      throw badParam(`Strategy parameter ${key}=${rawValue} must be a whole number.`, rawKey, `Example: ${key}=1`);
    }
    const belowMin = spec.minInclusive ? value < spec.min : value <= spec.min;
    const aboveMax = spec.max !== undefined && (spec.maxInclusive ? value > spec.max : value >= spec.max);
    if (belowMin || aboveMax) {
      const range = `${spec.minInclusive ? "[" : "("}${spec.min}, ${spec.max ?? "∞"}${spec.max === undefined || !spec.maxInclusive ? ")" : "]"}`;
      throw badParam(`Strategy parameter ${key}=${rawValue} is out of range ${range}.`, rawKey, `${key}: ${spec.description}.`);
    }
    out[key] = value;
  }
  return out;
}

/**
 * A robust rule with server momentum when `momentum` or `server-lr` was given (either alone means
 * the other at its neutral value: momentum 0, server-lr 1); the plain rule otherwise, so jobs that
 * never asked keep their exact parameters and no server state.
 */
function withMomentumIfAsked(strategy: Strategy, p: Record<string, number>): Strategy {
  if (p.momentum === undefined && p["server-lr"] === undefined) return strategy;
  return withServerMomentum(strategy, { serverLr: p["server-lr"] ?? 1, momentum: p.momentum ?? 0 });
}

function normaliseKey(key: string): string {
  return key
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/_/g, "-")
    .toLowerCase();
}

function badParam(message: string, param: string, hint: string): UserError {
  return new UserError(message, { code: "STRATEGY_BAD_PARAM", hint, data: { param } });
}
