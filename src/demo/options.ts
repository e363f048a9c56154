/**
 * `dat demo` options: the raw strings commander hands over, validated into `DemoOptions` with a
 * UsageError (exit code 2) naming the flag for anything malformed. Pure, so every malformed
 * form is unit-tested without starting a chain.
 */
import { UsageError } from "../core/errors.js";
import { createStrategy, parseStrategyParams, resolveStrategyChoice } from "../core/aggregate/index.js";
import { formatEncoding, parseEncoding } from "../core/delta/encoding.js";
import { parsePartitionScheme } from "../train/partition.js";
import { parseAttack, type AttackSpec } from "./attacks.js";

export interface DemoOptions {
  contributors: number;
  rounds: number;
  strategy: string;
  strategyParams: Record<string, string>;
  encoding: string;
  /** Canonical partition spec: "iid", "dirichlet:<α>" or "shards:<k>". */
  partition: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  attackers: number;
  attack: AttackSpec;
  /** `--attack-samples`: the sample count every attacker claims (else its shard's size). */
  attackSamples?: number;
  dpClip?: number;
  dpNoise?: number;
  /** A data set file or folder; undefined: generated data. */
  data?: string;
  labelColumn?: string;
  /** Operator's validation set; otherwise `testSplit` of the data is held out. */
  test?: string;
  testSplit: number;
  /** A tfjs model folder; undefined: a built-in model fitted to the data's shape. */
  model?: string;
  /** Reward per round in whole tokens (decimal string, up to 18 decimals). */
  reward: string;
  /** Examples in the generated data set (training + validation). */
  samples: number;
  /** Keep the temporary homes (and print where) instead of deleting them. */
  keep: boolean;
  /** `--threads`: worker threads for each contributor's training (undefined: trainLocal's default). */
  threads?: number;
}

/** The raw option values as commander gives them (all strings or flags). */
export interface RawDemoOptions {
  contributors?: string;
  rounds?: string;
  strategy?: string;
  strategyParam?: string[];
  encoding?: string;
  partition?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  seed?: string;
  attackers?: string;
  attack?: string;
  attackSamples?: string;
  dpClip?: string;
  dpNoise?: string;
  data?: string;
  labelColumn?: string;
  test?: string;
  testSplit?: string;
  model?: string;
  reward?: string;
  samples?: string;
  keep?: boolean;
  threads?: string;
}

export const DEMO_DEFAULTS = {
  contributors: 3,
  rounds: 3,
  strategy: "fedavg",
  encoding: "float32",
  partition: "iid",
  epochs: 2,
  batchSize: 32,
  lr: 0.1,
  seed: 7,
  attackers: 0,
  attack: "sign-flip",
  testSplit: 0.2,
  reward: "100",
  samples: 2400,
  trimmedMeanBeta: 0.2,
} as const;

function integer(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = /^\s*[0-9]+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got "${text}".`, {
      code: "DEMO_BAD_OPTION",
      hint: `e.g. ${flag} ${Math.min(max, Math.max(min, fallback))}`,
      data: { flag },
    });
  }
  return value;
}

function decimal(flag: string, text: string | undefined, check: (v: number) => boolean, range: string): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || !check(value)) {
    throw new UsageError(`${flag} must be a number ${range}, got "${text}".`, { code: "DEMO_BAD_OPTION", data: { flag } });
  }
  return value;
}

/**
 * Validate a partition spec with the training module's parser (`iid`, `dirichlet:<α>`,
 * `shards:<k>`) and return its canonical spelling.
 * @throws UsageError PARTITION_SCHEME otherwise.
 */
export function parsePartitionSpec(text: string): string {
  const scheme = parsePartitionScheme(text.trim());
  switch (scheme.kind) {
    case "iid":
      return "iid";
    case "dirichlet":
      return `dirichlet:${scheme.alpha}`;
    case "shards":
      return `shards:${scheme.perClient}`;
  }
}

/** Validate a reward amount in whole tokens (≥ 0, at most 18 decimals). */
export function parseRewardAmount(text: string): string {
  const t = text.trim();
  if (!/^\d+(\.\d{1,18})?$/.test(t)) {
    throw new UsageError(`--reward must be a non-negative token amount with at most 18 decimals, got "${text}".`, {
      code: "DEMO_BAD_OPTION",
      hint: "e.g. --reward 100",
      data: { flag: "--reward" },
    });
  }
  return t;
}

/**
 * Turn the raw option strings into validated `DemoOptions`, filling defaults.
 * @throws UsageError for any malformed or inconsistent value (DEMO_BAD_OPTION and friends).
 */
export function parseDemoOptions(raw: RawDemoOptions): DemoOptions {
  const contributors = integer("--contributors", raw.contributors, DEMO_DEFAULTS.contributors, 1, 32);
  const rounds = integer("--rounds", raw.rounds, DEMO_DEFAULTS.rounds, 1, 100);
  const epochs = integer("--epochs", raw.epochs, DEMO_DEFAULTS.epochs, 1, 100);
  const batchSize = integer("--batch-size", raw.batchSize, DEMO_DEFAULTS.batchSize, 1, 65536);
  const seed = integer("--seed", raw.seed, DEMO_DEFAULTS.seed, 0, 2 ** 31 - 1);
  const samples = integer("--samples", raw.samples, DEMO_DEFAULTS.samples, 20, 1_000_000);
  const attackers = integer("--attackers", raw.attackers, DEMO_DEFAULTS.attackers, 0, 32);
  const threads = raw.threads === undefined ? undefined : integer("--threads", raw.threads, 1, 1, 1024);
  if (attackers >= contributors) {
    throw new UsageError(`--attackers ${attackers} leaves no honest contributor among ${contributors}.`, {
      code: "DEMO_BAD_OPTION",
      hint: `Use fewer attackers than contributors, e.g. --contributors ${attackers + 3} --attackers ${attackers}.`,
      data: { flag: "--attackers" },
    });
  }
  const attack = parseAttack(raw.attack ?? DEMO_DEFAULTS.attack);
  const attackSamples = raw.attackSamples === undefined ? undefined : integer("--attack-samples", raw.attackSamples, 1, 1, Number.MAX_SAFE_INTEGER);
  const lr = decimal("--lr", raw.lr, (v) => v > 0 && v <= 10, "in (0, 10]") ?? DEMO_DEFAULTS.lr;

  // "robust" is the strategy the learning benchmark recommends (core's ROBUST_STRATEGY, README table).
  const { strategy, params: strategyParams } = resolveStrategyChoice(raw.strategy ?? DEMO_DEFAULTS.strategy, parseStrategyParams(raw.strategyParam));
  // Trimmed mean must trim at least the attackers' share per side: β = 0.2 held within 2.4 points of
  // clean under the scale attack where β = 0.1 lost 20.9 (learning bench, 2/10 attackers).
  if (strategy === "trimmed-mean" && strategyParams.beta === undefined) strategyParams.beta = String(DEMO_DEFAULTS.trimmedMeanBeta);
  // Builds (and so validates) the strategy exactly as the orchestrator will.
  createStrategy(strategy, strategyParams);
  const encoding = formatEncoding(parseEncoding(raw.encoding ?? DEMO_DEFAULTS.encoding));
  const partition = parsePartitionSpec(raw.partition ?? DEMO_DEFAULTS.partition);

  const dpClip = decimal("--dp-clip", raw.dpClip, (v) => v > 0, "> 0");
  const dpNoise = decimal("--dp-noise", raw.dpNoise, (v) => v >= 0, "≥ 0");
  if (dpNoise !== undefined && dpClip === undefined) {
    throw new UsageError("--dp-noise needs --dp-clip: noise is calibrated to the clipping norm.", {
      code: "DEMO_BAD_OPTION",
      hint: "e.g. --dp-clip 1 --dp-noise 0.5",
      data: { flag: "--dp-noise" },
    });
  }

  if (raw.test !== undefined && raw.testSplit !== undefined) {
    throw new UsageError("Give either --test or --test-split, not both.", { code: "DEMO_BAD_OPTION", data: { flag: "--test" } });
  }
  if (raw.data === undefined && (raw.test !== undefined || raw.labelColumn !== undefined)) {
    throw new UsageError(`${raw.test !== undefined ? "--test" : "--label-column"} applies to --data only.`, {
      code: "DEMO_BAD_OPTION",
      hint: "Pass --data <path> too, or drop it to use the generated data set.",
      data: { flag: raw.test !== undefined ? "--test" : "--label-column" },
    });
  }
  if (raw.data !== undefined && raw.samples !== undefined) {
    throw new UsageError("--samples sizes the generated data set; it does not apply with --data.", {
      code: "DEMO_BAD_OPTION",
      data: { flag: "--samples" },
    });
  }
  const testSplit = decimal("--test-split", raw.testSplit, (v) => v > 0 && v < 1, "strictly between 0 and 1") ?? DEMO_DEFAULTS.testSplit;
  const reward = parseRewardAmount(raw.reward ?? DEMO_DEFAULTS.reward);

  return {
    contributors,
    rounds,
    strategy,
    strategyParams,
    encoding,
    partition,
    epochs,
    batchSize,
    lr,
    seed,
    attackers,
    attack,
    ...(attackSamples !== undefined ? { attackSamples } : {}),
    dpClip,
    dpNoise: dpClip !== undefined ? (dpNoise ?? 0) : undefined,
    data: raw.data,
    labelColumn: raw.labelColumn,
    test: raw.test,
    testSplit,
    model: raw.model,
    reward,
    samples,
    keep: Boolean(raw.keep),
    ...(threads !== undefined ? { threads } : {}),
  };
}
