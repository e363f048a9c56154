/**
 * The operator's side of "one preprocessing per job": `dat job create` checks the model against
 * the validation data and fixes the preprocessing spec (with statistics from the validation data
 * or a `--normalize-stats` file) that every later step applies.
 */
import fs from "node:fs";
import type * as tf from "@tensorflow/tfjs";
import { UsageError, UserError } from "../../core/errors.js";
import { createStatsAccumulator, parsePreprocess, validatePreprocessSpec, type PreprocessSpec } from "../../core/preprocess.js";
import { checkDataFitsModel, describeModel } from "../modelShape.js";
import { openDataSource } from "./open.js";
import { featureSize, type DataSource } from "./source.js";

export interface JobPreprocessOptions {
  model: tf.LayersModel;
  /** How to name the model in messages (its model.json). */
  modelName: string;
  /** The `--normalize` value; undefined: none. */
  normalize?: string;
  /** A `--normalize-stats` JSON file: a PreprocessSpec, or its `stats` object alone. */
  statsFile?: string;
  validation?: { path: string; labelColumn: string };
}

/**
 * Checks the validation data against the model (features, classes) and returns the job's
 * preprocessing spec with its statistics.
 * @throws UserError DATA_MODEL_MISMATCH / DATA_LABEL_RANGE (both shapes named), PREPROCESS_* for a
 *         bad or mismatched stats file; UsageError when minmax/zscore has neither data nor stats.
 */
export async function prepareJobPreprocess(options: JobPreprocessOptions): Promise<PreprocessSpec> {
  const parsed = parsePreprocess(options.normalize ?? "none");
  const inputShape = describeModel(options.model).inputShape;
  let validation: DataSource | undefined;
  if (options.validation) {
    // The raw loader (no normalisation of its own): the job's spec is the only transform.
    validation = await openDataSource(options.validation.path, { labelColumn: options.validation.labelColumn, inputShape });
    checkDataFitsModel(options.model, validation, options.modelName);
  }
  if (parsed.kind === "none" || parsed.kind === "scale") {
    if (options.statsFile !== undefined) throw new UsageError(`--normalize-stats only applies to --normalize minmax or zscore, not ${parsed.kind}.`);
    return parsed.kind === "scale" ? { kind: "scale", factor: parsed.factor } : { kind: "none" };
  }
  const features = featureSize(inputShape);
  if (options.statsFile !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(await fs.promises.readFile(options.statsFile, "utf8"));
    } catch (error) {
      throw new UserError(`${options.statsFile} is not a readable JSON file: ${(error as Error).message}.`, {
        code: "PREPROCESS_BAD_STATS",
        hint: "Pass the JSON of a job's preprocessing ({\"kind\":\"zscore\",\"stats\":{…}}) or its stats object.",
        data: { file: options.statsFile },
      });
    }
    const object = json as { kind?: unknown };
    if (typeof object === "object" && object !== null && "kind" in object && object.kind !== parsed.kind) {
      throw new UsageError(`${options.statsFile} holds ${String(object.kind)} preprocessing, but --normalize is ${parsed.kind}.`);
    }
    const spec = typeof object === "object" && object !== null && "kind" in object ? json : { kind: parsed.kind, stats: json };
    return validatePreprocessSpec(spec, features, options.statsFile);
  }
  if (!validation) {
    throw new UsageError(`--normalize ${parsed.kind} needs statistics: pass --validation <file> (they are computed from it) or --normalize-stats <json>.`);
  }
  // One streaming pass: a validation set larger than memory is never held whole.
  const acc = createStatsAccumulator(features);
  for await (const sample of validation.read()) acc.add(sample.x);
  return { kind: parsed.kind, stats: acc.finish() };
}
