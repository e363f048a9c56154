/**
 * The job's validation set: a data file on the orchestrator's machine (any format the training
 * loaders read: CSV with a label column, JSONL, IDX, PNG folders), opened for the model's input.
 */
import type * as tf from "@tensorflow/tfjs";
import type { DataSource } from "../train/data/source.js";

/** Opens a validation file as a DataSource that fits `model`'s input. */
export async function openValidationSource(file: string, labelColumn: string, model: tf.LayersModel): Promise<DataSource> {
  const { openDataSource } = await import("../train/data/open.js");
  const inputShape = (model.inputs[0].shape ?? []).slice(1).map((d) => d ?? 1);
  return openDataSource(file, { labelColumn, inputShape });
}
