/**
 * The job rules in one place: the zod schema of a job's settings, shared by `dat job create`,
 * `POST /jobs` and the demo, and the rules that tie fields together. Messages name the field,
 * not a CLI flag: the caller may be HTTP; `dat job create` maps its flags onto these fields.
 */
import { z } from "zod";
import { UserError } from "../core/errors.js";
import { hex, parseOrThrow, positiveInt } from "./schemas.js";
import type { CreateJobInput } from "./types.js";
import type { PreprocessSpec } from "../core/preprocess.js";

export const hyperSchema = z.object({
  epochs: positiveInt.max(10_000),
  batchSize: positiveInt.max(1_000_000),
  lr: z.number().positive().finite(),
  optimizer: z.enum(["sgd", "adam"]),
});

export const createJobInputSchema = z.object({
  name: z.string().max(200).optional(),
  rounds: positiveInt.max(1_000_000),
  minContributors: positiveInt.max(1_000_000),
  maxContributors: positiveInt.max(1_000_000).optional(),
  deadlineSeconds: z.number().positive().finite(),
  hyper: hyperSchema,
  strategy: z.string().min(1).max(40),
  strategyParams: z.record(z.string(), z.union([z.number(), z.string()])).optional(),
  dpClip: z.number().positive().finite().optional(),
  dpNoise: z.number().nonnegative().finite().optional(),
  encoding: z.string().min(1).max(40),
  rewardPerRound: z.string().regex(/^\d+$/, "must be a whole number of base units").optional(),
  validationPath: z.string().min(1).max(4096).optional(),
  labelColumn: z.string().min(1).max(200).optional(),
  gateToken: hex(20).optional() as z.ZodOptional<z.ZodType<`0x${string}`>>,
  gateMin: z.string().regex(/^\d+$/, "must be a whole number of base units").optional(),
  encryptModel: z.boolean().optional(),
  /**
   * Minimum stake (token base units) an address must have staked in the job, when the round opened,
   * for its submissions to count. Needs a chain (the Staking contract); a job without it is for a
   * trusted group: anyone registered may submit.
   */
  minStake: z.string().regex(/^\d+$/, "must be a whole number of base units").optional(),
  /** Cap on a submission's claimed sample count as an aggregation weight (see boundedWeights). */
  maxSamples: positiveInt.max(1_000_000_000_000).optional(),
  // Checked in depth by validatePreprocessSpec (kind, factor, finite statistics of equal length).
  preprocess: z.object({ kind: z.string(), factor: z.number().optional(), stats: z.unknown().optional() }).strict().optional(),
}).strict();

/** A job's settings, checked field by field and across fields; strategy and encoding resolved. */
export interface ResolvedJobInput {
  spec: z.infer<typeof createJobInputSchema>;
  /** The strategy's parameters with their defaults filled in. */
  strategyParams: Record<string, number>;
  /** The encoding in its canonical spelling. */
  encoding: string;
  /** The job's preprocessing, validated ({ kind: "none" } when not given). */
  preprocess: PreprocessSpec;
}

/**
 * Checks a job's settings against the schema and the cross-field rules, resolving the strategy's
 * parameters and the encoding; throws the typed error naming the field.
 * @param input what the CLI, an HTTP client or the demo asks for
 */
export async function resolveJobInput(input: CreateJobInput | unknown): Promise<ResolvedJobInput> {
  const spec = parseOrThrow(createJobInputSchema, input, "job settings");
  const { createStrategy, resolveStrategyParams, isStrategyName } = await import("../core/aggregate/index.js");
  const { parseEncoding, formatEncoding } = await import("../core/delta/encoding.js");
  if (!isStrategyName(spec.strategy)) createStrategy(spec.strategy); // throws the typed error
  const strategyParams = resolveStrategyParams(spec.strategy as never, strategyParamStrings(spec.strategyParams ?? {}));
  const encoding = formatEncoding(parseEncoding(spec.encoding));
  if ((spec.dpNoise ?? 0) > 0 && spec.dpClip === undefined) {
    throw new UserError("dpNoise needs dpClip: the noise is scaled to the clipping bound.", { code: "JOB_DP_NOISE_WITHOUT_CLIP", data: { field: "dpNoise" } });
  }
  if (spec.maxContributors !== undefined && spec.maxContributors < spec.minContributors) {
    throw new UserError(`maxContributors ${spec.maxContributors} is below minContributors ${spec.minContributors}.`, {
      code: "JOB_BAD_CONTRIBUTORS",
      data: { field: "maxContributors" },
    });
  }
  const { gatesDownloads } = await import("../inference/modelKeys.js");
  if (gatesDownloads(spec.gateMin ?? null) && !(BigInt(spec.minStake ?? "0") > 0n)) {
    // Contributors of a gated job download its plaintext model; without a stake to tell them from
    // anyone, free registration would hand the gated model to whoever asks.
    throw new UserError("gateMin needs a positive minStake: contributors of a gated job receive its model, and only a stake tells them from anyone who registers.", {
      code: "JOB_GATE_WITHOUT_STAKE",
      hint: "Add a minimum stake (dat job create --min-stake <amount>), or make the model public with gateMin 0 (--gate-min 0).",
      data: { field: "minStake" },
    });
  }
  if (spec.validationPath !== undefined && spec.labelColumn === undefined) {
    // A label column alone is harmless (ignored); a validation file needs to know its label.
    throw new UserError("validationPath needs labelColumn.", { code: "JOB_VALIDATION_LABEL", data: { field: "labelColumn" } });
  }
  const { validatePreprocessSpec } = await import("../core/preprocess.js");
  const preprocess = spec.preprocess === undefined ? { kind: "none" as const } : validatePreprocessSpec(spec.preprocess, undefined, "preprocess");
  return { spec, strategyParams, encoding, preprocess };
}

/** Strategy parameters as the strategies parse them (the strings of `--strategy-param`). */
export function strategyParamStrings(params: Record<string, number | string>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]));
}
